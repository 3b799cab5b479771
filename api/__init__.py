"""creditmeter's GraphQL API: strawberry on starlette."""
