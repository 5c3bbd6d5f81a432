"""escbot: keeps customer escalations on GitLab on track."""

__version__ = "0.1.0"
