"""Test support: local servers and service fixtures."""
