"""The internationalized domain names the application converts."""

DOMAINS = [
    "bücher.example",
]
