"""HTTP routes: /jobs and the operational endpoints."""
