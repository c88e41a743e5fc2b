"""Operations: Prometheus metrics, structured logs, liveness and readiness, graceful drain."""
