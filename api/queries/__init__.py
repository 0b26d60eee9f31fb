"""SQL behind the routes, one module per group of resources; parameterized queries only.

Each list query takes the decoded cursor (the last item's sort key) and fetches `limit + 1`
rows, so the route knows whether a next page exists without counting.
"""
