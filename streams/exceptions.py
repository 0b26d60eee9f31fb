"""One root exception for the platform; every error the CLI reports derives from it."""


class NautilusError(Exception):
    """Root of every error raised on purpose by Nautilus Streams."""


class ConfigError(NautilusError):
    """Settings or parameters are missing or invalid."""


class CatalogError(NautilusError):
    """topics.yaml is malformed, or a topic is not in it."""


class DecodeError(NautilusError):
    """A record could not be decoded or validated against its value model."""


class BrokerError(NautilusError):
    """The Kafka-compatible broker could not be reached or refused a request."""


class ServiceError(NautilusError):
    """An embedded service (broker, database, API) failed to start or stop."""


class InputFileError(NautilusError):
    """An input file is missing, of an unknown format, or lacks required columns."""


class StorageError(NautilusError):
    """The database could not be reached or refused a request."""


class MigrationError(StorageError):
    """A migration file is malformed or changed after it was applied, or failed to apply."""
