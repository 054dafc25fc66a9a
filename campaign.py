"""A training campaign for one lent GPU call: recipes x seeds trained there, each bundle returned as one archive.

    python campaign.py prepare --plan tools/campaign/isic2017-arms.json     # here: checks the plan, builds the carry
    python3 campaign.py run --carry campaign-carry --out "$OUT"              # on the GPU machine (one device call)
    python campaign.py unpack --archives <the call's files_at>               # here: archives -> weights/<name>, checked

The device call sends the working tree plus the carried folder (64 MiB in all) and brings back at most 8 files
from $OUT (16 MiB each, 64 MiB together); one call runs at most 10 minutes and a task's device time is short,
so everything that can fail is checked here first (``prepare``) and the call itself ends inside 9 minutes.
"""

import argparse
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent
CARRY = Path("campaign-carry")  # listed in .git/info/exclude, named in the device call's carry
WORK = Path("campaign-runs")  # ignored too and not carried: kept on a warm machine, so a cut run can resume
MiB = 1 << 20
TREE_LIMIT = 64 * MiB  # what the device call may send: tracked and untracked files plus the carry
OUT_FILES, OUT_FILE_LIMIT, OUT_TOTAL_LIMIT = 8, 16 * MiB, 64 * MiB  # what comes back from $OUT
LOG_NAME, LOG_RESERVE = "campaign.log", MiB
CALL_MINUTES = 9  # the device call's timeout (timeout_s 540)
AIM_MINUTES = 8  # what a plan may need by its own estimate, install and archiving included
STOP_MINUTES = 8.5  # runs still training then are stopped, so that the log and archives are written in time
SETUP_MINUTES = 0.5  # wheel install, the backend check and archiving, counted once per call
MIN_BUDGET_MINUTES = 0.5  # a run that would get less is not started
OWNED_FLAGS = ("--out", "--resume", "--seed", "--time-budget-minutes")  # set per run by the campaign
NAME = re.compile(r"^[A-Za-z0-9._-]+$")  # names the device call returns unchanged
WHEELS = ("keras==3.15.1", "namex==0.1.0", "optree==0.20.0")  # the GPU machine has JAX but not Keras
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_27_x86_64", "manylinux_2_28_x86_64")
WORD = 4  # float32: model weights are stored as byte planes of 4-byte words, so gzip finds their exponents
ARCHIVE_MANIFEST = "campaign-archive.json"


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class PlannedRun:
    name: str
    recipe: str
    seed: int
    args: tuple  # train.py arguments; {shared} stands for the shared folder where the run happens


@dataclass(frozen=True)
class Plan:
    """Recipes x seeds, run ``parallel`` at a time, each with a time budget and an estimate of what follows it
    (the last epoch, calibration, the test report), checked to fit the device call before any minute is spent."""

    name: str
    bundle_prefix: str
    common: tuple
    recipes: dict
    seeds: tuple
    parallel: int
    budget_minutes: float
    tail_minutes: float

    @classmethod
    def load(cls, path) -> "Plan":
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
            plan = cls(name=str(raw["name"]), bundle_prefix=str(raw["bundle_prefix"]),
                       common=tuple(map(str, raw["common"])),
                       recipes={str(k): tuple(map(str, v)) for k, v in raw["recipes"].items()},
                       seeds=tuple(int(s) for s in raw["seeds"]), parallel=int(raw["parallel"]),
                       budget_minutes=float(raw["budget_minutes"]), tail_minutes=float(raw["tail_minutes"]))
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as error:
            raise ValueError(f"Plan {path} is not a campaign plan ({type(error).__name__}: {error}); see "
                             f"tools/campaign/isic2017-arms.json for the fields.") from None
        plan.validate()
        return plan

    def validate(self) -> None:
        runs = self.runs()
        if not 1 <= len(runs) <= OUT_FILES - 1:
            raise ValueError(f"Plan {self.name!r} has {len(runs)} runs; one call returns at most {OUT_FILES - 1} "
                             f"archives beside its log.")
        names = [run.name for run in runs]
        bad = [name for name in names if not NAME.match(name)]
        if bad or len(set(names)) != len(names):
            raise ValueError(f"Run names must be unique and use letters, digits, '.', '_' and '-' only: {names}.")
        for run in runs:
            owned = sorted({arg.split("=")[0] for arg in run.args} & set(OWNED_FLAGS))
            if owned:
                raise ValueError(f"Run {run.name} sets {', '.join(owned)}, which the campaign sets per run; "
                                 f"remove them from the plan (budget_minutes and seeds give the budget and seed).")
        if self.parallel < 1 or self.budget_minutes < MIN_BUDGET_MINUTES or self.tail_minutes < 0:
            raise ValueError(f"Plan {self.name!r}: parallel must be at least 1 (got {self.parallel}), "
                             f"budget_minutes at least {MIN_BUDGET_MINUTES} (got {self.budget_minutes:g}) and "
                             f"tail_minutes not negative (got {self.tail_minutes:g}).")
        if self.minutes_needed() > AIM_MINUTES:
            raise ValueError(f"Plan {self.name!r} needs {self.minutes_needed():.1f} min ({self.waves()} wave(s) of "
                             f"{self.budget_minutes:g} + {self.tail_minutes:g} min, plus {SETUP_MINUTES:g} for "
                             f"setup), over the {AIM_MINUTES} min one device call aims at: lower budget_minutes, "
                             f"run more at once or plan fewer runs.")

    def runs(self) -> list[PlannedRun]:
        """Seeds outer, recipes inner: runs started two at a time compare the recipes on one seed first."""
        return [PlannedRun(f"{self.bundle_prefix}-{recipe}-seed{seed}", recipe, seed,
                           tuple(arg.replace("{seed}", str(seed)) for arg in (*self.common, *extra)))
                for seed in self.seeds for recipe, extra in self.recipes.items()]

    def waves(self) -> int:
        return math.ceil(len(self.runs()) / self.parallel)

    def minutes_needed(self) -> float:
        return SETUP_MINUTES + self.waves() * (self.budget_minutes + self.tail_minutes)


def train_arguments(run: PlannedRun, shared: Path, out: Path, budget_minutes: float, resume: bool) -> list[str]:
    """The train.py command line of one run at one place."""
    args = [arg.replace("{shared}", str(shared)) for arg in run.args]
    args += ["--seed", str(run.seed), "--out", str(out), "--time-budget-minutes", f"{budget_minutes:.2f}"]
    return args + ["--resume"] * resume


# ---------------------------------------------------------------- prepare (here)


def check_run(run: PlannedRun, shared: Path, weights_dir: Path):
    """Everything about one run that can be checked without training: train.py accepts its arguments, its
    bundle name is free in weights/, the bundle it continues from matches its architecture, its split exists.
    Returns train.py's TrainConfig."""
    import train
    from skin_core import bundle as bundles

    try:
        config = train.parse_args(train_arguments(run, shared, Path("campaign-check") / run.name, 1.0, False))
    except SystemExit:
        raise ValueError(f"Run {run.name}: train.py refuses its arguments (its message is above).") from None
    if (weights_dir / run.name).exists():
        raise ValueError(f"Run {run.name}: {weights_dir / run.name} exists, so its bundle could not be unpacked; "
                         f"change bundle_prefix or the recipe's name.")
    if config.split and not (REPO / config.split).is_file():
        raise ValueError(f"Run {run.name}: split file {config.split} not found (relative to {REPO}).")
    if config.init_from:
        source = bundles.open_bundle(config.init_from, weights_dir).config
        mine = (config.backbone, tuple(config.input_size or ()), config.metadata, config.soft_attention,
                config.colour_constancy)
        theirs = (source.backbone, tuple(source.input_size), source.metadata, source.soft_attention,
                  source.colour_constancy)
        if mine != theirs:
            raise ValueError(f"Run {run.name} continues from {config.init_from}, whose (backbone, input size, "
                             f"metadata, attention, colour constancy) are {theirs}, not the run's {mine}.")
    return config


def needed_paths(config, shared: Path) -> set[Path]:
    """The files and folders under the shared folder that a run reads, relative to it."""
    from skin_core.backbones import get_backbone

    wanted = [Path(config.data), *map(Path, config.extra_train)]
    if config.weights == "shared":
        wanted.append(get_backbone(config.backbone).shared_weights.default_path())
    elif config.weights:
        wanted.append(Path(config.weights))
    needed = set()
    for path in wanted:
        try:
            needed.add(path.resolve().relative_to(shared.resolve()))
        except ValueError:
            raise ValueError(f"{config.out}: reads {path}, outside the shared folder {shared}; the GPU machine "
                             f"has only what the carry holds.") from None
    return needed


def copy_image(source: Path, target: Path, jpegtran: str | None) -> None:
    """A JPEG is rewritten with optimal Huffman tables (jpegtran -optimize: the same coefficients, 11-18 % fewer
    bytes, checked pixel-identical); anything else, or without jpegtran, is copied."""
    if jpegtran and source.suffix.lower() in (".jpg", ".jpeg"):
        subprocess.run([jpegtran, "-copy", "all", "-optimize", "-outfile", str(target), str(source)], check=True)
        if target.stat().st_size < source.stat().st_size and _same_pixels(source, target):
            return
    shutil.copy2(source, target)


def _same_pixels(a: Path, b: Path) -> bool:
    import numpy as np
    from PIL import Image

    with Image.open(a) as first, Image.open(b) as second:
        return np.array_equal(np.asarray(first), np.asarray(second))


def copy_data(source: Path, target: Path) -> None:
    """A data folder without its lesion masks (training does not read them)."""
    jpegtran = shutil.which("jpegtran")
    jobs = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative.parts[0] == "masks" or path.is_dir():
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        jobs.append((path, target / relative))
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(lambda job: copy_image(*job, jpegtran), jobs))


def download_wheels(target: Path) -> None:
    target.mkdir(parents=True)
    platforms = [arg for platform in WHEEL_PLATFORMS for arg in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(target), *WHEELS],
                   check=True)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def travelling_bytes(repo: Path) -> tuple[int, int]:
    """Bytes of the tracked and untracked-not-ignored files that a device call sends, and of weights/ among them."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True).stdout.decode().split("\0")
    sizes = {name: (repo / name).stat().st_size for name in set(listed) if name and (repo / name).is_file()}
    return sum(sizes.values()), sum(size for name, size in sizes.items() if name.startswith("weights/"))


def prepare(plan_path: Path, shared: Path, carry: Path, wheels: bool, weights_dir: Path) -> dict:
    """Check every run, then build the carry folder: the data and pretrained files the runs read (masks left
    out), Keras's wheels and the plan. Returns the device call's arguments."""
    os.environ["SKIN_SHARED_DIR"] = str(shared)  # train.py's defaults point where the runs will read
    plan = Plan.load(plan_path)
    needed = set()
    for run in plan.runs():
        needed |= needed_paths(check_run(run, shared, weights_dir), shared)
    if carry.exists():
        if not (carry / "plan.json").is_file():
            raise FileExistsError(f"{carry} exists and is not a campaign carry (no plan.json); choose another --carry.")
        shutil.rmtree(carry)
    for relative in sorted(needed):
        source, target = shared / relative, carry / "shared" / relative
        if source.is_dir():
            copy_data(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            for sibling in source.parent.glob(source.stem + ".*"):  # a weights file with its description
                shutil.copy2(sibling, target.parent / sibling.name)
    from skin_core.research.data import read_dataset

    for relative in needed:
        if (carry / "shared" / relative).is_dir():
            read_dataset(carry / "shared" / relative)  # every labelled image is there and readable
    if wheels:
        download_wheels(carry / "wheels")
    shutil.copy2(plan_path, carry / "plan.json")

    parts = {str(relative): folder_bytes(carry / "shared" / relative) if (carry / "shared" / relative).is_dir()
             else (carry / "shared" / relative).stat().st_size for relative in sorted(needed)}
    if wheels:
        parts["wheels"] = folder_bytes(carry / "wheels")
    carried = folder_bytes(carry)
    print(f"Plan {plan.name!r}: {len(plan.runs())} runs ({', '.join(run.name for run in plan.runs())}), "
          f"{plan.parallel} at a time, {plan.budget_minutes:g} min budget each; estimate {plan.minutes_needed():.1f} "
          f"of {AIM_MINUTES} min.")
    print(f"Carry {carry}: {carried / MiB:.1f} MiB (" + ", ".join(f"{k} {v / MiB:.1f}" for k, v in parts.items()) + ")")
    tree, weights = travelling_bytes(REPO)
    total = tree + carried
    print(f"A device call sends {total / MiB:.1f} MiB: the working tree {tree / MiB:.1f} MiB (weights/ "
          f"{weights / MiB:.1f}) + the carry; its limit is {TREE_LIMIT / MiB:.0f} MiB.")
    if total > TREE_LIMIT:
        print(f"WARNING: {(total - TREE_LIMIT) / MiB:.1f} MiB over: the device tool will refuse this call.")
    try:
        carried_path = carry.resolve().relative_to(REPO).as_posix()
    except ValueError:
        carried_path = str(carry)
        print(f"WARNING: {carry} is outside the repository; the device call carries only folders inside it.")
    else:
        ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", carried_path],
                                 check=False).returncode == 0
        if not ignored:
            print(f"WARNING: {carried_path} is not ignored by git: add /{carried_path}/ to .git/info/exclude.")
    call = {"command": f'python3 campaign.py run --carry {carried_path} --out "$OUT"', "carry": [carried_path],
            "timeout_s": CALL_MINUTES * 60}
    print("Device call (run tool arguments):", json.dumps(call))
    return call


# ---------------------------------------------------------------- run (on the GPU machine)


class Log:
    """The campaign log in $OUT, written as things happen, so that a call cut at its limit still returns it."""

    def __init__(self, path: Path):
        self.path, self.started = path, time.time()
        self.lock = threading.Lock()

    def minutes(self) -> float:
        return (time.time() - self.started) / 60

    def __call__(self, text: str) -> None:
        line = f"[{self.minutes():5.2f} min] {text}"
        with self.lock, self.path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")
        print(line, flush=True)

    def block(self, title: str, text: str) -> None:
        with self.lock, self.path.open("a", encoding="utf-8") as log:
            log.write(f"----- {title}\n{text.rstrip()}\n-----\n")


def is_finished(folder: Path) -> bool:
    """A bundle train.py wrote (its config and model; train.py refuses to write over one). Checked without
    importing Keras, which the campaign itself never loads."""
    return (folder / "config.json").is_file() and (folder / "model.keras").is_file()


def epochs_logged(folder: Path) -> int:
    history = folder / "history.csv"
    if not history.is_file():
        return 0
    with history.open(encoding="utf-8") as rows:
        return max(sum(1 for _ in csv.reader(rows)) - 1, 0)


def resumable(folder: Path) -> bool:
    """Whether a run's folder holds an interrupted run to continue with --resume. One cut before its first
    epoch is removed instead: resumed, it would have no checkpoint and would skip --init-from."""
    if epochs_logged(folder) > 0:
        return True
    if folder.exists():
        shutil.rmtree(folder)
    return False


def to_planes(data: bytes) -> bytes:
    import numpy as np

    whole = len(data) // WORD * WORD
    return np.frombuffer(data, np.uint8, whole).reshape(-1, WORD).T.tobytes() + data[whole:]


def from_planes(data: bytes) -> bytes:
    import numpy as np

    whole = len(data) // WORD * WORD
    return np.frombuffer(data, np.uint8, whole).reshape(WORD, -1).T.tobytes() + data[whole:]


def archive_bundle(folder: Path, target_dir: Path) -> Path:
    """<name>.tar.gz of the bundle without checkpoints; model.keras goes in as byte planes (an EfficientNet-Lite2
    bundle is 15.5 MB then, against 16.9 MB gzipped as it is, over the 16 MiB a returned file may have)."""
    name = folder.name
    archive = target_dir / f"{name}.tar.gz"
    manifest = {"bundle": name, "planes": {}}
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for path in sorted(folder.iterdir()):
            if not path.is_file():  # the checkpoint folder of an interrupted run
                continue
            if path.name == "model.keras":
                data = path.read_bytes()
                manifest["planes"][path.name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                _add(tar, f"{name}/{path.name}.planes", to_planes(data))
            else:
                tar.add(path, f"{name}/{path.name}")
        _add(tar, ARCHIVE_MANIFEST, json.dumps(manifest, indent=1).encode())
    return archive


def _add(tar: tarfile.TarFile, member: str, data: bytes) -> None:
    info = tarfile.TarInfo(member)
    info.size, info.mtime = len(data), int(time.time())
    tar.addfile(info, io.BytesIO(data))


def returned_bytes(out: Path) -> tuple[int, int]:
    files = [path for path in out.iterdir() if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)


def place(archive: Path, out: Path, log: Log) -> bool:
    """Move an archive into $OUT if the call can still return it (files, per-file and total size)."""
    size = archive.stat().st_size
    count, total = returned_bytes(out)
    if count + 1 > OUT_FILES or size > OUT_FILE_LIMIT or total + size + LOG_RESERVE > OUT_TOTAL_LIMIT:
        log(f"{archive.name} ({size / MiB:.1f} MiB) cannot come back: $OUT holds {count} files, {total / MiB:.1f} "
            f"MiB (limits {OUT_FILES} files, {OUT_FILE_LIMIT / MiB:.0f} MiB each, {OUT_TOTAL_LIMIT / MiB:.0f} in all); "
            f"its figures are in this log, the bundle stays in {archive.parent.parent}.")
        return False
    shutil.move(archive, out / archive.name)
    log(f"{archive.name}: {size / MiB:.2f} MiB returned.")
    return True


def summary_of(folder: Path) -> dict:
    """The figures a finished run reports, read from its bundle's JSON files (a bundle cut while its metrics
    were being written has none)."""
    metrics_file = folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    training = json.loads((folder / "config.json").read_text(encoding="utf-8"))["training"]
    validation = metrics.get("validation", {})
    return {"val_balanced_accuracy": validation.get("balanced_accuracy"),
            "test_balanced_accuracy": metrics.get("balanced_accuracy"), "test_macro_auc": metrics.get("macro_auc"),
            "test_ece": metrics.get("ece"), "epochs_run": training.get("epochs_run"),
            "train_wall_s": training.get("wall_time_s")}


@dataclass
class Running:
    run: PlannedRun
    process: subprocess.Popen
    output: Path
    started: float
    budget: float


class Campaign:
    """Runs the plan's trainings ``parallel`` at a time and archives each bundle as it is written."""

    def __init__(self, plan: Plan, carry: Path, out: Path, work: Path, log: Log, env: dict):
        self.plan, self.carry, self.out, self.work, self.log, self.env = plan, carry, out, work, log, env
        self.results: dict[str, dict] = {}

    def folder(self, run: PlannedRun) -> Path:
        return self.work / "runs" / run.name

    def start(self, run: PlannedRun, runs_after: int) -> Running | None:
        """Start one run with the budget that leaves room for the runs behind it, resuming an interrupted one."""
        waves_left = math.ceil((1 + runs_after) / self.plan.parallel)
        left = AIM_MINUTES - self.log.minutes()
        budget = min(self.plan.budget_minutes, left / waves_left - self.plan.tail_minutes)
        if budget < MIN_BUDGET_MINUTES:
            self.log(f"{run.name}: not started, only {left:.1f} min left for {waves_left} wave(s).")
            self.results[run.name] = {"status": "not started"}
            return None
        folder = self.folder(run)
        resume = resumable(folder)
        args = train_arguments(run, (self.carry / "shared").resolve(), folder, budget, resume)
        output = self.work / f"{run.name}.out"
        with output.open("w", encoding="utf-8") as stream:
            process = subprocess.Popen([sys.executable, "train.py", *args], cwd=REPO, env=self.env, stdout=stream,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        resumed = f"resuming after {epochs_logged(folder)} epochs, " if resume else ""
        self.log(f"{run.name}: started ({resumed}budget {budget:.2f} min): train.py {shlex.join(args)}")
        return Running(run, process, output, time.time(), budget)

    def finish(self, running: Running, status: str) -> None:
        run, folder = running.run, self.folder(running.run)
        wall = time.time() - running.started
        result = {"status": status, "wall_s": round(wall, 1), "budget_minutes": round(running.budget, 2)}
        self.log.block(f"{run.name}: last lines of train.py's output", _tail(running.output))
        if is_finished(folder):
            result.update(summary_of(folder))
            result["returned"] = place(archive_bundle(folder, self._archives()), self.out, self.log)
        self.results[run.name] = result
        self.log(f"{run.name}: {status} after {wall / 60:.2f} min: {json.dumps(result)}")

    def _archives(self) -> Path:
        folder = self.work / "archives"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def execute(self) -> None:
        queue = list(self.plan.runs())
        for run in list(queue):
            if is_finished(self.folder(run)):  # finished in an earlier call on this machine: return it again
                queue.remove(run)
                self.log(f"{run.name}: already trained in an earlier call; archived again.")
                result = {"status": "finished earlier", **summary_of(self.folder(run))}
                result["returned"] = place(archive_bundle(self.folder(run), self._archives()), self.out, self.log)
                self.results[run.name] = result
        running: list[Running] = []
        while queue or running:
            while queue and len(running) < self.plan.parallel:
                started = self.start(queue.pop(0), len(queue))
                if started:
                    running.append(started)
            for item in [item for item in running if item.process.poll() is not None]:
                running.remove(item)
                code = item.process.returncode
                finished = code == 0 and is_finished(self.folder(item.run))
                self.finish(item, "finished" if finished else f"failed (exit {code})")
            if running and self.log.minutes() > STOP_MINUTES:
                _stop([item.process for item in running])
                for item in running:
                    self.finish(item, f"cut at {STOP_MINUTES} min (a call at once on this warm machine resumes it)")
                running = []
                for run in queue:
                    self.results[run.name] = {"status": "not started"}
                    self.log(f"{run.name}: not started, the call's time is spent.")
                queue = []
            time.sleep(1)


def _stop(processes: list[subprocess.Popen], grace_s: float = 15) -> None:
    """End trainings and their worker threads: SIGTERM to each process group, SIGKILL to those still there
    after one shared grace period (the call's last seconds are for the log and the archives)."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.time() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _tail(path: Path, lines: int = 40) -> str:
    """The end of a run's output without the backends' start-up chatter."""
    text = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []
    kept = [line[:300] for line in text if not line.startswith(("I0000", "W0000", "WARNING: All log messages"))]
    return "\n".join(kept[-lines:])


def install_keras(carry: Path, work: Path, log: Log) -> list[str]:
    """Keras from the carried wheels when this Python lacks it (the GPU machine); the folders to put on
    PYTHONPATH."""
    import importlib.util

    if importlib.util.find_spec("keras") is not None:
        log("Keras is installed here; the carried wheels are not needed.")
        return []
    wheels = sorted((carry / "wheels").glob("*.whl"))
    if not wheels:
        raise FileNotFoundError(f"Keras is not installed and {carry / 'wheels'} holds no wheels; run prepare "
                                f"without --no-wheels.")
    site = work / "site"
    shutil.rmtree(site, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--target", str(site), *map(str, wheels)], check=True)
    log(f"Installed {', '.join(wheel.name.split('-')[0] + ' ' + wheel.name.split('-')[1] for wheel in wheels)} "
        f"into {site}.")
    return [str(site.resolve())]


PREFLIGHT = ("import jax, keras; assert keras.backend.backend() == 'jax', keras.backend.backend(); "
             "print('keras', keras.__version__, 'jax', jax.__version__, 'devices', jax.devices())")


def sample_gpu(log: Log, stop: threading.Event, every_s: float = 20) -> None:
    """GPU use and memory every 20 s, for planning the next campaign (nothing when there is no nvidia-smi)."""
    smi = shutil.which("nvidia-smi")
    while smi and not stop.wait(every_s):
        reading = subprocess.run([smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader"],
                                 check=False, capture_output=True, text=True).stdout.strip()
        log(f"GPU: {reading}")


def run(carry: Path, out: Path, work: Path) -> int:
    """The device side: install Keras if needed, check the backend, train the plan, archive, log."""
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    log = Log(out / LOG_NAME)
    plan = Plan.load(carry / "plan.json")
    log(f"Campaign {plan.name!r}: {len(plan.runs())} runs, {plan.parallel} at a time, Python {sys.version.split()[0]}.")
    path = install_keras(carry, work, log) + [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "PYTHONUNBUFFERED": "1",
           "SKIN_SHARED_DIR": str((carry / "shared").resolve()), "PYTHONPATH": os.pathsep.join(path)}
    check = subprocess.run([sys.executable, "-c", PREFLIGHT], check=False, cwd=REPO, env=env, capture_output=True,
                           text=True)
    if check.returncode != 0:
        log.block("backend check failed", check.stdout + check.stderr[-4000:])
        log("The JAX backend cannot start; nothing was trained.")
        return 1
    log(check.stdout.strip())
    campaign = Campaign(plan, carry, out, work, log, env)
    stop = threading.Event()
    threading.Thread(target=sample_gpu, args=(log, stop), daemon=True).start()
    try:
        campaign.execute()
    finally:
        stop.set()
    count, total = returned_bytes(out)
    log(f"Done: {count} files in $OUT, {total / MiB:.1f} MiB.")
    log("summary " + json.dumps(campaign.results))
    return 0 if all(r["status"].startswith("finished") for r in campaign.results.values()) else 1


# ---------------------------------------------------------------- unpack (here)


def unpack_one(archive: Path, weights_dir: Path) -> Path:
    """One returned archive into weights/<name>: model.keras restored from its byte planes and checked against
    its hash, the bundle opened and its model loaded (safe mode) before it is moved into place; never over an
    existing folder."""
    from skin_core import bundle as bundles

    with tarfile.open(archive, "r:gz") as tar:
        manifest = json.loads(tar.extractfile(ARCHIVE_MANIFEST).read())
        name = manifest["bundle"]
        if not NAME.match(name) or archive.name != f"{name}.tar.gz":
            raise ValueError(f"{archive.name}: names bundle {name!r}, not {archive.name.removesuffix('.tar.gz')!r}.")
        target = weights_dir / name
        if target.exists():
            raise FileExistsError(f"{target} exists; an existing bundle is never overwritten (move it away first).")
        members = [m for m in tar.getmembers() if m.name != ARCHIVE_MANIFEST]
        strays = [m.name for m in members if not m.isfile() or Path(m.name).parent != Path(name)]
        if strays:
            raise ValueError(f"{archive.name}: unexpected members {strays}.")
        staging = Path(tempfile.mkdtemp(prefix=f".unpack-{name}-", dir=weights_dir))
        try:
            tar.extractall(staging, members=members, filter="data")
            folder = staging / name
            for file, expected in manifest["planes"].items():
                data = from_planes((folder / f"{file}.planes").read_bytes())
                if len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
                    raise ValueError(f"{archive.name}: {file} does not match its recorded hash (damaged archive).")
                (folder / file).write_bytes(data)
                (folder / f"{file}.planes").unlink()
            bundle = bundles.open_bundle(folder)
            bundle.load_model()
            folder.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def unpack(archives: Path, weights_dir: Path) -> int:
    found = sorted(archives.glob("*.tar.gz"))
    if not found:
        print(f"No archives (*.tar.gz) in {archives}.", file=sys.stderr)
        return 2
    failed = 0
    for archive in found:
        try:
            print(f"{archive.name}: unpacked and checked into {unpack_one(archive, weights_dir)}")
        except (OSError, ValueError, KeyError, tarfile.TarError) as error:  # one bad archive never stops the others
            failed += 1
            print(f"{archive.name}: not unpacked: {type(error).__name__}: {error}", file=sys.stderr)
    log = archives / LOG_NAME
    if log.is_file():
        print(f"The campaign's log: {log}")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="here: check the plan and build the carry folder")
    prep.add_argument("--plan", type=Path, default=Path("tools/campaign/isic2017-arms.json"))
    prep.add_argument("--shared", type=Path, default=None, help="the shared folder to copy from (default ../shared)")
    prep.add_argument("--carry", type=Path, default=CARRY)
    prep.add_argument("--no-wheels", dest="wheels", action="store_false",
                      help="carry no Keras wheels (a machine that has Keras, such as this one for a dry run)")
    prep.add_argument("--weights", type=Path, default=None, help="the bundles folder (default weights/)")
    go = commands.add_parser("run", help="on the GPU machine: train the carried plan, archive into --out")
    go.add_argument("--carry", type=Path, default=CARRY)
    go.add_argument("--out", type=Path, required=True, help="the folder whose files come back ($OUT)")
    go.add_argument("--work", type=Path, default=WORK, help="run folders, kept on a warm machine for --resume")
    back = commands.add_parser("unpack", help="here: returned archives into weights/, each bundle checked")
    back.add_argument("--archives", type=Path, required=True, help="the folder the device call's files are in")
    back.add_argument("--weights", type=Path, default=None, help="the bundles folder (default weights/)")
    args = parser.parse_args(argv)

    if args.command == "run":
        return run(args.carry, args.out, args.work)
    from skin_core import paths

    weights_dir = args.weights or paths.weights_dir()
    if args.command == "unpack":
        return unpack(args.archives, weights_dir)
    try:
        prepare(args.plan, args.shared or paths.shared_dir(), args.carry, args.wheels, weights_dir)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
