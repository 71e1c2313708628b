"""Deployment helpers and the local pipeline (an S3 stand-in, no AWS account)."""
