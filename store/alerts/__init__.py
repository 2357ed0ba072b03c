"""Alert sources: where incidents come from (Prometheus Alertmanager, PagerDuty)."""
