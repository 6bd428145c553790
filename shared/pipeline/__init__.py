"""Code shared by the pipeline's Lambda functions, shipped as a SAM layer."""
