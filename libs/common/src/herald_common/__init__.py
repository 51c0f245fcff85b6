"""Herald's shared kit: settings, AWS clients, logging, errors, auth, the SQS poller and the emulator.

No service's domain model lives here; the four services import this kit and never each other.
"""
