"""What every Leadflow process shares: settings, logging, the Temporal client, security helpers."""
