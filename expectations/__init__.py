"""Great Expectations suites as code, one module per dataset, and the runner that applies them."""
