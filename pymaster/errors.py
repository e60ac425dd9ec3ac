"""Errors a user can cause and fix (bad file, preset or tag): the CLI prints them on one line."""


class UserError(Exception):
    """Base of the errors reported to the user without a traceback (exit status 2)."""


class AudioFileError(UserError):
    """An input that cannot be read, or an output that must not be written."""


class PresetError(UserError):
    """A preset that does not exist or does not validate; the message names file, key and range."""


class MetadataError(UserError):
    """A tag value that cannot be written (e.g. a malformed ISRC)."""


class DeliveryError(UserError):
    """The written master broke a promise (e.g. the true-peak ceiling): nothing was delivered."""
