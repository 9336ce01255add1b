# Thin aliases for ./dev (which works without make).
.PHONY: run test lint bench
run:   ## start linkhop serve on http://127.0.0.1:8080
	./dev run
test:  ## lint, type-check and run the whole test suite
	./dev test
lint:  ## ruff, mypy --strict, import-linter
	./dev lint
bench: ## the benchmark harness
	./dev bench
