"""`python -m pulse.cli`: the same as the `pulse` command."""

from pulse.cli import main

if __name__ == "__main__":
    main()
