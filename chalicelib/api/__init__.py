"""The GraphQL API: strawberry types, schema, context and HTTP view.

Only the HTTP routes import this package, so the stream handler's cold start
never pays for strawberry and graphql-core.
"""
