.PHONY: setup check test lint bench demo

setup:
	./citytwin.sh setup

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy

test:
	.venv/bin/python -m pytest

check: lint test

bench:
	./citytwin.sh bench

demo:
	./citytwin.sh demo
