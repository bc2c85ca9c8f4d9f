"""Local development: DynamoDB Local, the stream worker and the whole stack."""
