"""Reading the TOML files under configs/ (presets, devices, MIDI maps) with errors that name
the file."""
try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib


def read_toml(path, error, kind):
    """Parse the TOML file `path`; any failure raises `error` (a UserError class) naming the
    file and what is wrong. `kind` words the message: "preset", "device config", ..."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
