"""The contract as documents: JSON Schemas generated from the models, and their command."""
