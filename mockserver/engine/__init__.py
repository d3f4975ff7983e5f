"""The provider-neutral simulation engine."""
