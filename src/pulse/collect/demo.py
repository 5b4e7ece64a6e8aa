"""A tiny demo storefront with the tracker embedded, for trying the collector and for the browser test.

`python -m pulse.collect.demo --collector http://127.0.0.1:8420 --port 8421` serves it; the collector
must allow its origin (PULSE_COLLECT_ALLOWED_ORIGINS='["http://127.0.0.1:8421"]').
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

DEMO_DIR = Path(__file__).parent / "static" / "demo"
# product id -> (name, price): ids from the real Glamira samples
PRODUCTS: dict[str, tuple[str, str]] = {
    "96672": ("Ring Saphira", "1.290,00"),
    "110474": ("Ring Ellinor", "890,00"),
    "100335": ("Earrings Lunette", "640,00"),
}
PAGES = ("cart", "checkout", "search")


def _card(product_id: str, click: str, viewing: str | None) -> str:
    name, price = PRODUCTS[product_id]
    viewing_attr = f' data-pulse-viewing-product-id="{viewing}"' if viewing else ""
    return (
        f'<div class="card"><a href="/product/{product_id}.html" id="card-{product_id}" data-pulse-click="{click}"'
        f' data-pulse-recommendation-product-id="{product_id}"{viewing_attr}>{html.escape(name)}</a>'
        f"<p>{price} €</p></div>"
    )


def _framed(name: str) -> str:
    """A page file (its title, its own head lines, then its body after `<!-- body -->`) in the shared frame."""
    own = (DEMO_DIR / f"{name}.html").read_text().split("\n", 1)[1]  # the first line says what the file is
    head, body = own.split("<!-- body -->\n", 1)
    title, meta = head.split("\n", 1)
    frame = (DEMO_DIR / "_page.html").read_text()
    return frame.replace("__PAGE_TITLE__", title).replace("__PAGE_META__", meta).replace("__PAGE_BODY__", body)


def render_page(name: str, collector_url: str, product_id: str | None = None) -> str:
    """One storefront page with the collector URL and (for product pages) the product filled in."""
    page = _framed(name)
    if product_id is None:
        cards = "\n".join(_card(p, "listing_page_recommendation_clicked", None) for p in PRODUCTS)
    else:
        cards = "\n".join(_card(p, "product_detail_recommendation_clicked", product_id)
                          for p in PRODUCTS if p != product_id)
        name_, price = PRODUCTS[product_id]
        page = page.replace("__PRODUCT_NAME__", html.escape(name_)).replace("__PRICE__", price)
        page = page.replace("__PRODUCT_ID__", product_id)
    page = page.replace("__HEAD__", (DEMO_DIR / "_head.html").read_text())
    page = page.replace("__HEADER__", (DEMO_DIR / "_header.html").read_text())
    page = page.replace("__PRODUCT_CARDS__", cards)
    return page.replace("__PULSE_COLLECTOR__", html.escape(collector_url.rstrip("/")))


def create_demo_app(collector_url: str) -> Starlette:
    """The storefront as an ASGI app: /, /product/<id>.html, /cart.html, /checkout.html, /search.html."""

    async def home(request: Request) -> Response:
        return HTMLResponse(render_page("index", collector_url))

    async def product(request: Request) -> Response:
        product_id = request.path_params["product_id"]
        if product_id not in PRODUCTS:
            return HTMLResponse("<h1>no such product</h1>", status_code=404)
        return HTMLResponse(render_page("product", collector_url, product_id))

    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in PAGES:
            return HTMLResponse("<h1>no such page</h1>", status_code=404)
        return HTMLResponse(render_page(name, collector_url))

    return Starlette(routes=[
        Route("/", home), Route("/product/{product_id}.html", product), Route("/{name}.html", page),
    ])


def main(argv: list[str] | None = None) -> None:
    """Serve the demo storefront."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--collector", default="http://127.0.0.1:8420", help="base URL of `pulse collect`")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8421)
    args = parser.parse_args(argv)
    uvicorn.run(create_demo_app(args.collector), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
