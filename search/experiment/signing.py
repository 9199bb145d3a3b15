"""Signed experiment state: ``--resume`` loads only the state that a search with this user's key wrote.

Tune keeps an experiment's state in its folder as pickles: ``tuner.pkl`` (unpickled by ``Tuner.restore``),
``experiment_state-<session>.json`` (JSON whose trial records hold cloudpickled fields, decoded with
cloudpickle allowed), ``search_gen_state-<session>.json`` (a cloudpickle despite its name),
``searcher-state-<session>.pkl``, ``callback-states-<session>.pkl`` and each trial's
``error.pkl`` (unpickled into its ``Result``). Whoever can replace one of them runs code when the search is
resumed. So each of them is signed: an HMAC-SHA256 of its name in the folder and its bytes, under a key that
never enters the folder (:func:`key_file`), listed in one manifest, :data:`MANIFEST`, in the experiment folder.
``--resume`` checks every file before anything reads one (:func:`verify_state`).

*State files* of an experiment folder (:func:`state_files`): the files Tune restores from, by Tune's own names
(:data:`STATE_PATTERNS`) at its top, and each trial's ``error.pkl`` (:data:`TRIAL_PATTERNS`). Others are not
read on restore (Tune's temporary files, which a copy made mid-save can leave, are named to match none), and a
file planted under one of these names is refused. A subfolder with its own ``tuner.pkl`` is a Tune experiment
of its own (the confirmation stage, ``<experiment>/confirm``) with its own manifest. Checkpoints are not signed:
their weights are read as data only (``SafeCheckpointer``).

When they are signed: ``tuner.pkl`` right after Tune writes it (:func:`signed_tuner`); the rest at every save of
Tune's experiment state (every 10 s or more, at the end of ``fit()``, after Ctrl-C), by :class:`StateSigner`,
which signs the bytes Tune has just written to its staging folder on the driver, before Tune copies them to the
experiment folder (and once more when the run ends). ``--resume`` never reads the searcher's files (it rebuilds
the searcher from the study: :mod:`.resume`), but Tune writes them, and a planted one is refused all the same.
The manifest keeps, for each file, the signatures of its last
:data:`KEEP` versions: Tune copies a save to storage in the background, so a search killed (SIGKILL, a lost
head) while a copy was under way leaves each file in one of its last versions, and ``--resume`` continues from
them.

Local folders and URIs (``s3://``) alike: files are read and written through pyarrow's filesystem for the
path, the one Tune uses.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import logging
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.fs
import ray.cloudpickle as cloudpickle
from ray import tune
from ray.tune.callback import CallbackList
from ray.tune.execution.tune_controller import TuneController
from ray.tune.experiment import Trial
from ray.tune.result import EXPR_ERROR_PICKLE_FILE
from ray.tune.search import BasicVariantGenerator, Searcher, SearchGenerator

__all__ = [
    "KEEP", "KEY_ENV", "MANIFEST", "STATE_PATTERNS", "TRIAL_PATTERNS", "StateSignatureError", "StateSigner",
    "key_file", "load_key", "signed_tuner", "state_files", "storage_of", "verify_state",
]

logger = logging.getLogger(__name__)

# The key file for a cluster (every machine that resumes a search needs the same key), instead of the default.
KEY_ENV = "FASHION_TUNE_STATE_KEY_FILE"
DEFAULT_KEY_FILE = "~/.config/fashion-tune/state.key"
# The manifest in each experiment folder. Not *.json: Tune copies every top-level .json back into its staging
# folder on restore, and would later copy that old copy over the newer manifest.
MANIFEST = "state.signatures"
TUNER_FILE = "tuner.pkl"
# What Tune reads back on restore: the Tuner, the experiment state (trials, cloudpickled fields), the search
# algorithm's and the searcher's state, callback state (Ray's templates, so a renamed file is still found) ...
STATE_PATTERNS = (
    TUNER_FILE,
    *(c.CKPT_FILE_TMPL.format("*") for c in (TuneController, SearchGenerator, Searcher, BasicVariantGenerator,
                                             CallbackList)),
)
# ... and, in a trial's folder, its pickled error (into the trial's Result).
TRIAL_PATTERNS = (EXPR_ERROR_PICKLE_FILE,)
# Signatures kept per file: a save Tune has not finished copying to storage is still accepted while fewer than
# KEEP newer saves were signed (Tune saves every 10 s or more, so copies of up to about 5 minutes).
KEEP = 32
# What is signed is this prefix, the file's name in the experiment folder, a NUL and its bytes: a signature
# made for one name does not pass for another.
_DOMAIN = b"fashion-tune experiment state v1\0"
_KEY_BYTES = 32
_MAX_MANIFEST_BYTES = 16 << 20


class StateSignatureError(ValueError):
    """Experiment state that is not signed, or not as signed, or a key that cannot be used; one line naming it."""


def key_file() -> Path:
    """The key file: ``$FASHION_TUNE_STATE_KEY_FILE``, else ``~/.config/fashion-tune/state.key``."""
    return Path(os.environ.get(KEY_ENV) or DEFAULT_KEY_FILE).expanduser()


def load_key(*, create: bool = False) -> bytes:
    """The signing key, from :func:`key_file`.

    With ``create``, the default key file is made on first use: 32 random bytes (hex), owner-only (0600, its
    folder 0700). A file named by :data:`KEY_ENV` is never made: on a cluster a key made on one machine only
    would sign what the others cannot check.

    Raises:
        StateSignatureError: the file is missing (and not made), readable or writable by others, or not a key.
    """
    path = key_file()
    if not path.exists():
        if os.environ.get(KEY_ENV):
            raise StateSignatureError(f"no signing key at {path}, which {KEY_ENV} names: copy the key there "
                                      "(mode 0600); a key named there is never made")
        if not create:
            raise StateSignatureError(f"no signing key at {path}: the state was signed with a key this machine "
                                      f"lacks; copy that key here (mode 0600) or set {KEY_ENV} to it")
        _create_key(path)
    if path.stat().st_mode & 0o077:
        raise StateSignatureError(f"signing key {path}: readable or writable by others (mode "
                                  f"{path.stat().st_mode & 0o777:o}); chmod 600 {path}")
    text = path.read_text(errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < _KEY_BYTES:
        raise StateSignatureError(f"signing key {path}: expected {2 * _KEY_BYTES} or more hex digits")
    return key


def _create_key(path: Path) -> None:
    """Write a new key at ``path`` without ever exposing a partial or group-readable one: a private temporary
    file linked into place (``link`` fails if another process made the key first; then that key is used)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(_KEY_BYTES) + "\n")
        os.link(tmp, path)
        logger.info("created the key that signs experiment state: %s", path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _signature(key: bytes, name: str, data: bytes) -> str:
    return hmac.new(key, _DOMAIN + name.encode() + b"\0" + data, hashlib.sha256).hexdigest()


@dataclass
class Manifest:
    """File name (relative to the experiment folder, ``/``-separated) -> its accepted signatures, newest first."""

    files: dict[str, list[str]] = field(default_factory=dict)

    def accepts(self, name: str, signature: str) -> bool:
        return any(hmac.compare_digest(signature, s) for s in self.files.get(name, ()))

    def add(self, name: str, signature: str) -> None:
        """Accept ``signature`` for ``name`` too, as its newest version (the oldest beyond :data:`KEEP` go)."""
        old = [s for s in self.files.get(name, ()) if s != signature]
        self.files[name] = [signature, *old][:KEEP]

    def dumps(self) -> bytes:
        return json.dumps({"version": 1, "algorithm": "HMAC-SHA256", "files": self.files}, indent=1).encode()

    @classmethod
    def loads(cls, data: bytes, where: str) -> Manifest:
        """The manifest in ``data`` (the file ``where``).

        Raises:
            StateSignatureError: not a manifest of this format.
        """
        try:
            doc = json.loads(data) if len(data) <= _MAX_MANIFEST_BYTES else None
        except (UnicodeDecodeError, ValueError):
            doc = None
        files = doc.get("files") if isinstance(doc, dict) and doc.get("version") == 1 else None
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v) for k, v in files.items()
        ):
            raise StateSignatureError(f"{where}: not a signature manifest (version 1 JSON with 'files': "
                                      "{name: [signature, ...]})")
        return cls({k: list(v) for k, v in files.items()})


def storage_of(experiment_path: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """The filesystem and the path in it of a local folder or a URI (``s3://bucket/prefix``)."""
    if "://" in experiment_path:
        return pyarrow.fs.FileSystem.from_uri(experiment_path)
    return pyarrow.fs.LocalFileSystem(), str(Path(experiment_path).resolve())


def _join(root: str, name: str) -> str:
    return str(PurePosixPath(root) / name)


def _read(fs: pyarrow.fs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as f:
        return bytes(f.readall())


def _write(fs: pyarrow.fs.FileSystem, path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a temporary file and a move (a rename on local disks), so a crash
    leaves the old file or the new one, never half a file. The temporary name matches no state pattern."""
    tmp = str(PurePosixPath(path).with_name(f".{PurePosixPath(path).name}-{uuid.uuid4().hex}.tmp"))
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)


def state_files(fs: pyarrow.fs.FileSystem, root: str) -> tuple[list[str], list[str]]:
    """(the state files of the experiment folder ``root``, its subfolders that are experiments of their own), both
    as names relative to ``root``, sorted. See the module doc for what counts."""
    # Two levels, listed one folder at a time: a recursive listing would walk every checkpoint too.
    top = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    infos = [i for i in top if i.type == pyarrow.fs.FileType.File] + [
        i for d in top if d.type == pyarrow.fs.FileType.Directory
        for i in fs.get_file_info(pyarrow.fs.FileSelector(d.path)) if i.type == pyarrow.fs.FileType.File
    ]
    files = [PurePosixPath(i.path).relative_to(root).parts for i in infos]
    nested = sorted({parts[0] for parts in files if len(parts) == 2 and parts[1] == TUNER_FILE})

    def is_state(parts: tuple[str, ...]) -> bool:
        if len(parts) == 1:
            return any(fnmatch.fnmatchcase(parts[0], p) for p in STATE_PATTERNS)
        return parts[0] not in nested and any(fnmatch.fnmatchcase(parts[1], p) for p in TRIAL_PATTERNS)

    return sorted("/".join(parts) for parts in files if is_state(parts)), nested


def _read_manifest(fs: pyarrow.fs.FileSystem, root: str, where: str) -> Manifest | None:
    path = _join(root, MANIFEST)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    return Manifest.loads(_read(fs, path), f"{where}/{MANIFEST}")


def _mismatch(where: str, name: str) -> StateSignatureError:
    return StateSignatureError(
        f"{where}/{name}: does not match its signature in {where}/{MANIFEST}: it changed after a search signed it, "
        f"or it was signed with another key than {key_file()}; nothing of the experiment was loaded")


def _unsigned(where: str, what: str) -> StateSignatureError:
    return StateSignatureError(f"{what}; nothing of the experiment was loaded. If you trust every file in {where} "
                               "(e.g. it is yours, from before signed state), resume with --trust-unsigned")


@dataclass
class _Folder:
    """One experiment folder as found: its manifest and the state files it does not sign yet."""

    fs: pyarrow.fs.FileSystem
    root: str
    where: str  # as printed
    manifest: Manifest | None
    unsigned: dict[str, str]  # name -> signature of its bytes now


def _check(fs: pyarrow.fs.FileSystem, root: str, where: str, key: bytes) -> list[_Folder]:
    """The experiment folder ``root`` and those nested in it, every state file checked against its manifest.

    Raises:
        StateSignatureError: a file does not match its signature.
    """
    names, nested = state_files(fs, root)
    manifest = _read_manifest(fs, root, where)
    unsigned: dict[str, str] = {}
    for name in names:
        signature = _signature(key, name, _read(fs, _join(root, name)))
        if manifest is None or name not in manifest.files:
            unsigned[name] = signature
        elif not manifest.accepts(name, signature):
            raise _mismatch(where, name)
    found = [_Folder(fs, root, where, manifest, unsigned)]
    for sub in nested:
        found += _check(fs, _join(root, sub), f"{where}/{sub}", key)
    return found


def verify_state(experiment_path: str, *, trust_unsigned: bool = False) -> list[str]:
    """Check every state file of the experiment at ``experiment_path`` (and of the experiments nested in it)
    against its manifest, before anything reads one. Returns the files it signed (with ``trust_unsigned``).

    A file that does not match its signature is refused, always. A file without one (an experiment from before
    signed state, a file that something else put there) is refused too, unless ``trust_unsigned``: then it is
    signed as it is, and later checks pass; an unsigned ``tuner.pkl`` also gets the signer that a new Tuner has
    (:func:`_with_signer`), so that the resumed run signs its saves.

    Raises:
        StateSignatureError: one line naming the first file refused (or the key's problem).
    """
    fs, root = storage_of(experiment_path)
    where = experiment_path.rstrip("/")
    names, _ = state_files(fs, root)
    if not trust_unsigned and _read_manifest(fs, root, where) is None and names:
        # Before the key is needed: an experiment from before signed state, on a machine that never signed.
        raise _unsigned(where, f"{where}: its state is not signed ({MANIFEST} is missing: an experiment from "
                        "before signed state, or a folder copied without it)")
    key = load_key(create=trust_unsigned)
    folders = _check(fs, root, where, key)
    if not trust_unsigned:
        for folder in folders:
            if folder.unsigned:
                name = next(iter(folder.unsigned))
                more = f" (and {len(folder.unsigned) - 1} more)" if len(folder.unsigned) > 1 else ""
                raise _unsigned(folder.where, f"{folder.where}/{name}: has no signature in {folder.where}/{MANIFEST}"
                                f"{more}: not written by a search with this key")
        return []
    signed: list[str] = []
    for folder in folders:
        if folder.unsigned:
            manifest = folder.manifest or Manifest()
            for name, signature in folder.unsigned.items():
                manifest.add(name, signature)
            upgraded = _with_signer(folder, key, manifest)
            _write(folder.fs, _join(folder.root, MANIFEST), manifest.dumps())
            if upgraded is not None:  # after the manifest, which accepts both: a crash leaves a resumable folder
                _write(folder.fs, _join(folder.root, TUNER_FILE), upgraded)
            signed += [f"{folder.where}/{name}" for name in folder.unsigned]
    return signed


def _with_signer(folder: _Folder, key: bytes, manifest: Manifest) -> bytes | None:
    """An unsigned ``tuner.pkl`` (a Tuner from before signed state), trusted, with a :class:`StateSigner` added to
    its run's callbacks and signed in ``manifest``; None where there is nothing to change.

    A restored Tuner runs with the callbacks pickled with it, so without this a resumed old experiment would save
    unsigned state, and need ``--trust-unsigned`` at every resume. Written by hand: Tune has no API for it. The
    file is a cloudpickled dict of ``TunerInternal``'s attributes, its
    ``RunConfig`` under ``_run_config``.
    """
    if TUNER_FILE not in folder.unsigned:
        return None
    path = _join(folder.root, TUNER_FILE)
    try:
        state = cloudpickle.loads(_read(folder.fs, path))  # the user vouched for it: --trust-unsigned
        run_config = state["_run_config"]
        callbacks = list(run_config.callbacks or [])
    except Exception as exc:  # not a Tuner of this Tune; restoring it will say what is wrong
        logger.warning("%s/%s: no signer added (%s: %s); its saves stay unsigned", folder.where, TUNER_FILE,
                       type(exc).__name__, exc)
        return None
    if any(isinstance(c, StateSigner) for c in callbacks):
        return None
    run_config.callbacks = [*callbacks, StateSigner()]
    data = bytes(cloudpickle.dumps(state))
    manifest.add(TUNER_FILE, _signature(key, TUNER_FILE, data))
    return data


def _sign(fs: pyarrow.fs.FileSystem, root: str, where: str, files: Mapping[str, bytes], key: bytes) -> None:
    """Add the signatures of ``files`` (name in the folder -> bytes) to the manifest of the folder ``root``."""
    manifest = _read_manifest(fs, root, where) or Manifest()
    for name, data in files.items():
        manifest.add(name, _signature(key, name, data))
    _write(fs, _join(root, MANIFEST), manifest.dumps())


def signed_tuner(trainable: Any, *, tune_config: tune.TuneConfig, run_config: tune.RunConfig,
                 param_space: dict[str, Any] | None = None) -> tune.Tuner:
    """A new ``tune.Tuner`` whose state is signed: its ``tuner.pkl`` at once, the rest at every save Tune makes
    (a :class:`StateSigner` added to ``run_config.callbacks``).

    Raises:
        StateSignatureError: the key cannot be used (checked before Tune writes anything).
    """
    key = load_key(create=True)
    run_config.callbacks = [*(run_config.callbacks or []), StateSigner()]
    tuner = tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)
    assert run_config.storage_path and run_config.name, "search.experiment gives every run a storage path and name"
    path = f"{run_config.storage_path.rstrip('/')}/{run_config.name}"
    fs, root = storage_of(path)
    # Read back at once: the Tuner has just written it, and no API hands out the bytes it wrote.
    _sign(fs, root, path, {TUNER_FILE: _read(fs, _join(root, TUNER_FILE))}, key)
    return tuner


class StateSigner(tune.Callback):
    """Signs the experiment state at every save Tune makes of it (see the module doc).

    Tune has no callback for "experiment state saved"; it calls every callback's ``get_state`` at each save,
    right after writing the experiment state and the search algorithm's files to its staging folder on the
    driver and before copying that folder to storage. That is when this signs the staged files (the folders are
    found through the trials of the last step; a run without steps is signed at its end). It holds no key (read
    from :func:`key_file` at each save) and pickles with the Tuner as an empty object.
    """

    def __init__(self) -> None:
        self._trials: list[Trial] = []
        self._manifest: Manifest | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]  # a fresh signer, as after construction

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        # Tune's own list: the trials it adds in this step are in it by the save that ends the step.
        self._trials = trials

    def get_state(self) -> dict[str, Any] | None:
        self._sign()
        return None  # nothing for Tune to save: no callback-states file

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        # After Tune's last save. A restored run with nothing left to do makes that save without a step before it,
        # so get_state had no trial to find the folders by; the last save is signed here, from what Tune staged.
        self._trials = trials
        self._sign()

    def _sign(self) -> None:
        if not self._trials:
            return
        try:
            self._sign_staged(self._trials[0])
        except Exception as exc:  # a failed signature must not stop the search; resuming will say so
            logger.warning("could not sign the experiment state (--resume will refuse what is unsigned): %s: %s",
                           type(exc).__name__, exc)

    def _sign_staged(self, trial: Trial) -> None:
        storage = trial.storage
        assert storage is not None, "Tune gives every trial of a run its storage"
        fs, root = storage.storage_filesystem, storage.experiment_fs_path
        staging = storage.experiment_driver_staging_path
        local = pyarrow.fs.LocalFileSystem()
        names, _ = state_files(local, staging)
        key = load_key()
        if self._manifest is None:  # what the folder had: tuner.pkl's signature, and earlier sessions' files
            self._manifest = _read_manifest(fs, root, root) or Manifest()
        for name in names:
            self._manifest.add(name, _signature(key, name, _read(local, _join(staging, name))))
        _write(fs, _join(root, MANIFEST), self._manifest.dumps())
