"""Release metadata (title, artist, ISRC, ...) written into delivery files, and read back.

WAV gets both a RIFF INFO list (written by libsndfile, read by most DAWs and players) and an ID3
chunk (written with mutagen; the only standard WAV place for an ISRC: RIFF INFO's own "ISRC"
field means "source", not the recording code). FLAC gets Vorbis comments (mutagen).
"""
import re

from .errors import MetadataError

FIELDS = ("title", "artist", "album", "date", "genre", "track", "comment", "copyright", "isrc")
"""Tag names accepted by :func:`normalize_tags` and written by :func:`write_tags`."""

_ISRC = re.compile(r"^([A-Z]{2})-?([A-Z0-9]{3})-?([0-9]{2})-?([0-9]{5})$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")  # ID3's TDRC drops anything else
_ID3 = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "date": "TDRC", "genre": "TCON",
        "track": "TRCK", "copyright": "TCOP", "isrc": "TSRC"}
_VORBIS = {"title": "TITLE", "artist": "ARTIST", "album": "ALBUM", "date": "DATE",
           "genre": "GENRE", "track": "TRACKNUMBER", "comment": "COMMENT",
           "copyright": "COPYRIGHT", "isrc": "ISRC"}
_INFO = {"title": "title", "artist": "artist", "album": "album", "date": "date",
         "genre": "genre", "track": "tracknumber", "comment": "comment",
         "copyright": "copyright"}  # soundfile attribute names (RIFF INFO in WAV)


def normalize_isrc(code):
    """Return an ISRC in its stored 12-character form (``CCXXXYYNNNNN``).

    Accepts the printed form CC-XXX-YY-NNNNN (hyphens optional, any case): a 2-letter country
    code, a 3-character registrant code (letters/digits), a 2-digit year and a 5-digit number.
    """
    match = _ISRC.match(str(code).strip().upper())
    if not match:
        raise MetadataError(f"invalid ISRC {code!r}: expected CC-XXX-YY-NNNNN (2 letters, "
                            "3 letters or digits, 2 digits, 5 digits), e.g. US-S1Z-99-00001")
    return "".join(match.groups())


def normalize_tags(tags):
    """Validate tags: known names, non-empty text, a well-formed ISRC. Returns a new dict."""
    clean = {}
    for key, value in (tags or {}).items():
        if value is None:
            continue
        if key not in FIELDS:
            raise MetadataError(f"unknown tag {key!r}: allowed {', '.join(FIELDS)}")
        text = str(value).strip()
        if not text:
            raise MetadataError(f"tag {key} is empty")
        if key == "date" and not _DATE.match(text):
            raise MetadataError(f"invalid date {text!r}: use YYYY, YYYY-MM or YYYY-MM-DD")
        clean[key] = normalize_isrc(text) if key == "isrc" else text
    return clean


def info_strings(tags):
    """The subset libsndfile writes itself (as RIFF INFO in WAV), by soundfile attribute name."""
    return {_INFO[k]: v for k, v in tags.items() if k in _INFO}


def write_tags(path, format, tags):
    """Write `tags` into a finished WAV or FLAC file with mutagen."""
    if not tags:
        return
    if format == "flac":
        from mutagen.flac import FLAC
        audio = FLAC(path)
        for key, value in tags.items():
            audio[_VORBIS[key]] = value
        audio.save()
        return
    from mutagen import id3
    from mutagen.wave import WAVE
    audio = WAVE(path)
    if audio.tags is None:
        audio.add_tags()
    for key, value in tags.items():
        if key == "comment":
            audio.tags.add(id3.COMM(encoding=3, lang="eng", desc="", text=value))
        else:
            audio.tags.add(getattr(id3, _ID3[key])(encoding=3, text=value))
    audio.save()


def read_tags(path):
    """Tags of a WAV (ID3) or FLAC (Vorbis comments) file, as a dict keyed like :data:`FIELDS`."""
    import mutagen
    audio = mutagen.File(path)
    if audio is None or audio.tags is None:
        return {}
    found = {}
    if hasattr(audio.tags, "getall"):  # ID3
        for key, frame in _ID3.items():
            if frame in audio.tags:
                found[key] = str(audio.tags[frame].text[0])
        comments = audio.tags.getall("COMM")
        if comments:
            found["comment"] = str(comments[0].text[0])
    else:
        for key, name in _VORBIS.items():
            if name in audio.tags:
                found[key] = audio.tags[name][0]
    return found
