"""The stewards' workspace in the browser (``wijkbrug web``): validation runs, quarantine,
deliveries, monitoring and subject access, for viewers, stewards and privacy officers."""
