"""Webhooks: signed deliveries of job status events to the URLs tenants register."""
