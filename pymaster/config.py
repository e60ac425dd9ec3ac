"""Reading the TOML files under configs/ (presets, devices, MIDI maps) with errors that name
the file."""
import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

_HERE = Path(__file__).resolve().parent


def shipped_dirs(kind):
    """Where the shipped configs of `kind` ("presets", "devices", "midi") live: inside the
    installed package (a wheel), then in the checkout's configs/."""
    return [_HERE / "configs" / kind, _HERE.parent / "configs" / kind]


def read_toml(path, error, kind):
    """Parse the TOML file `path`; any failure raises `error` (a UserError class) naming the
    file and what is wrong. `kind` words the message: "preset", "device config", ..."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError:  # a NUL character in the name
        raise error(f"{os.fspath(path)!r}: not a possible file name") from None
    return parse_toml(data, path, error)


def parse_toml(data, path, error):
    """Parse TOML `data` (bytes or str) read from `path`; any failure raises `error` naming
    the file: bad UTF-8, bad syntax, and what tomllib raises other than TOMLDecodeError (an
    integer of more than 4300 digits, arrays nested past the recursion limit)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})") \
            from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except ValueError as exc:
        raise error(f"{path}: not valid TOML: {str(exc).split(';')[0]}") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML: arrays or tables nested too deeply") from None


def find_config(name_or_path, folders, error, kind):
    """A config file path: as given when it looks like a path, else ``NAME.toml`` from the
    first of `folders` that has it; `error` lists the shipped names when none does."""
    text = os.fspath(name_or_path)
    if text.endswith(".toml") or "/" in text or os.sep in text:
        return Path(text)
    for folder in folders:
        if (folder / f"{text}.toml").is_file():
            return folder / f"{text}.toml"
    shipped = sorted({p.stem for d in folders if d.is_dir() for p in d.glob("*.toml")})
    raise error(f"unknown {kind} '{text}': give a .toml path or one of "
                f"{', '.join(shipped) or '(none found)'}")


def check_keys(path, where, table, allowed, error, required=()):
    """Raise `error` unless `table` (the TOML table at `where`) is a table whose keys are all
    in `allowed` and include every one of `required`."""
    if not isinstance(table, dict):
        raise error(f"{path}: {where} must be a table")
    for key in table:
        if key not in allowed:
            name = f"{where}.{key}" if where else key
            raise error(f"{path}: unknown key '{name}'; allowed: {', '.join(allowed)}")
    for key in required:
        if key not in table:
            raise error(f"{path}: missing key '{where}.{key}'")
