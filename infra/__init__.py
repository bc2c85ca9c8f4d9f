"""CloudFormation definitions of the service's AWS resources."""
