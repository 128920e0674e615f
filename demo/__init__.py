"""The demo plant: its source systems, its LMS/HR API, one more simulated day, and the services a demo run needs."""
