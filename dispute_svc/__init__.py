"""DisputeService: thin gRPC facade over DisputeWorkflow plus a read model for listing."""
