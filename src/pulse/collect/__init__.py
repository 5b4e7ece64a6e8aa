"""Collection from the website: the HTTP collector (`pulse collect`) and the browser tracker it serves."""
