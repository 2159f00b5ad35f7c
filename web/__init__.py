"""Presentation: jinja2 templates and static files (shipped as package data)."""
