"""Task registry: name → task, discovery by package scan and by entry points.

Entry points in the group ``schedkit.tasks`` are the plugin mechanism: a third-party
distribution declares ``[project.entry-points."schedkit.tasks"] name = "pkg.tasks"`` (a
module or package to scan, a BaseTask subclass, or a ``@task`` function) and its tasks
appear without any code change in the host.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pkgutil
import sysconfig
import traceback
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from schedkit._suggest import close_names
from schedkit.definitions import check_definition, checked_name
from schedkit.errors import (
    DuplicateTaskError,
    TaskDefinitionError,
    TaskNotFoundError,
    ValidationError,
)
from schedkit.parameters import secret_fields
from schedkit.redaction import declare_secret_parameters
from schedkit.task import BaseTask, definition
from schedkit.workflows.definition import Workflow
from schedkit.workflows.launcher import WorkflowLauncher, launcher_name

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "schedkit.tasks"


class TaskRegistry:
    """Holds one instance per task name."""

    def __init__(self) -> None:
        self._tasks: dict[str, BaseTask] = {}
        #: Where discovery looked: package names, then entry-point groups.
        self._packages: list[str] = []
        self._groups: list[str] = []

    def register_task(
        self, task_class: type[BaseTask] | BaseTask, task_config: Mapping[str, Any] | None = None
    ) -> BaseTask:
        """Register a BaseTask subclass (instantiated here) or a task instance.

        ``task_config`` is merged into the task's ``execution_context``. Registering the
        same class twice is harmless; another task under a taken name raises
        DuplicateTaskError naming both definitions. A definition made again where it was
        made before (same module, same qualified name: a notebook cell run again,
        ``importlib.reload``) replaces the registered one.
        """
        # Typed for callers, checked at run time: the document requires a clear error
        # for classes that are not tasks.
        candidate: object = task_class
        if isinstance(candidate, BaseTask):
            instance = candidate
        elif inspect.isclass(candidate) and issubclass(candidate, BaseTask):
            if inspect.isabstract(candidate):
                missing = ", ".join(sorted(candidate.__abstractmethods__))
                raise TaskDefinitionError(
                    f"task class {candidate.__qualname__} is abstract (missing: {missing})"
                )
            instance = candidate()
        else:
            what = getattr(candidate, "__qualname__", repr(candidate))
            raise TaskDefinitionError(f"task class {what} must inherit from BaseTask")
        name = checked_name(instance)
        existing = self._tasks.get(name)
        if existing is not None:
            if _same_definition(existing, instance):
                if task_config:
                    existing.execution_context.update(task_config)
                return existing
            if not _redefinition(existing, instance):
                raise DuplicateTaskError(
                    f"task name {name!r} is defined twice: {existing.source} and {instance.source}"
                )
            logger.debug(
                "task %r redefined (%s): the new definition replaces it", name, instance.source
            )
        if task_config:
            # Before the check: a property may read its values from the config.
            instance.execution_context.update(task_config)
        check_definition(instance, name)
        self._tasks[name] = instance
        if instance.parameters is not None:
            # Readers of this process mask them, whatever their names (redaction).
            declare_secret_parameters(name, secret_fields(instance.parameters))
        return instance

    def register_workflow(self, workflow: Workflow) -> Workflow:
        """Register a workflow: its launcher task ``workflow.<name>`` (scheduled and run
        like any task). The same workflow twice is harmless; another workflow under a
        taken name raises DuplicateTaskError. Its steps' tasks are checked when the
        scheduler starts (:meth:`check_workflows`), so they may be registered later."""
        existing = self._tasks.get(launcher_name(workflow.name))
        if isinstance(existing, WorkflowLauncher) and existing.workflow != workflow:
            raise DuplicateTaskError(f"workflow {workflow.name!r} is defined twice, differently")
        self.register_task(WorkflowLauncher(workflow, self.get_task))
        return workflow

    def workflows(self) -> list[Workflow]:
        """The registered workflows, by name."""
        return [t.workflow for t in self.list_tasks() if isinstance(t, WorkflowLauncher)]

    def get_workflow(self, name: str) -> Workflow | None:
        return next((w for w in self.workflows() if w.name == name), None)

    def check_workflows(self) -> None:
        """Every step of every workflow names a registered task with valid kwargs;
        TaskDefinitionError naming the workflow and the step otherwise."""
        for wf in self.workflows():
            for step in wf.steps:
                where = f"workflow {wf.name!r}, step {step.name!r}"
                task = self._tasks.get(step.task)
                if task is None or isinstance(task, WorkflowLauncher):
                    raise TaskDefinitionError(f"{where}: no task {step.task!r}")
                try:
                    task.validate_kwargs(step.kwargs)
                except ValidationError as exc:
                    raise TaskDefinitionError(f"{where}: {exc}") from None

    def check_dependencies(self) -> None:
        """Every ``depends_on`` names a registered task, and the task declaring it
        accepts the run a dependency starts (:func:`schedkit.engine.runs.dependent`:
        no kwargs); TaskDefinitionError naming both otherwise."""
        for task in self.list_tasks():
            for upstream in task.depends_on:
                if upstream not in self._tasks:
                    problem = str(self.not_found(upstream))
                    raise TaskDefinitionError(problem, task=task.task_name, attribute="depends_on")
            if not task.depends_on:
                continue
            try:
                task.validate_kwargs({})
            except ValidationError as exc:
                raise TaskDefinitionError(
                    f"a successful run of {task.depends_on[0]!r} starts it without kwargs, "
                    f"which it does not accept ({exc}); give its parameters defaults",
                    task=task.task_name,
                    attribute="depends_on",
                ) from None

    def unregister(self, task_name: str) -> None:
        self._tasks.pop(task_name, None)

    def get_task(self, task_name: str) -> BaseTask | None:
        return self._tasks.get(task_name)

    def dependents(self, task_name: str) -> list[BaseTask]:
        """The tasks declaring ``depends_on`` ``task_name``, by name (asked at every
        successful run's end: no copy or sort of the whole registry when none does)."""
        found = [t for t in self._tasks.values() if task_name in t.depends_on]
        return sorted(found, key=lambda t: t.task_name)

    def require(self, task_name: str) -> BaseTask:
        task = self._tasks.get(task_name)
        if task is None:
            raise self.not_found(task_name)
        return task

    def not_found(self, task_name: str) -> TaskNotFoundError:
        """The error for ``task_name``, which is not registered: it names the registered
        names close to it and where tasks were looked for."""
        names = sorted(self._tasks)
        close = [n for n in names if task_name and task_name in n][:2]
        close = close or close_names(task_name, names, cutoff=0.75)
        return TaskNotFoundError(task_name, close=close, searched=self.searched())

    def searched(self) -> str:
        """Where tasks were looked for, in words (for "unknown task" messages)."""
        packages = ", ".join(self._packages) or "none configured"
        where = f"task_packages: {packages}"
        if self._groups:
            where += f"; entry points: {', '.join(self._groups)}"
        count = len(self._tasks)
        return f"{count} task{'' if count == 1 else 's'} registered; searched {where}"

    def list_tasks(
        self, category: str | None = None, tags: Iterable[str] | None = None
    ) -> list[BaseTask]:
        """Tasks of ``category`` having ANY of ``tags`` (both optional), sorted by name."""
        wanted = set(tags or ())
        return [
            t
            for name, t in sorted(self._tasks.items())
            if (not category or t.task_category == category)
            and (not wanted or wanted.intersection(t.task_tags))
        ]

    def discover(self, packages: Iterable[str]) -> list[BaseTask]:
        """Import every module under each package (recursively) and register its tasks."""
        found: list[BaseTask] = []
        for package in packages:
            if package not in self._packages:
                self._packages.append(package)
            for module in _walk(package):
                found.extend(self._register_module(module))
        return found

    def discover_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[BaseTask]:
        found: list[BaseTask] = []
        if group not in self._groups:
            self._groups.append(group)
        for ep in entry_points(group=group):
            try:
                target = ep.load()
            except Exception as exc:
                raise TaskDefinitionError(
                    f"entry point {ep.name} = {ep.value} ({group}) failed to load: "
                    f"{_import_failure(exc)}"
                ) from exc
            if isinstance(target, ModuleType):
                modules = _walk(target.__name__) if hasattr(target, "__path__") else [target]
                for module in modules:
                    found.extend(self._register_module(module))
            else:
                found.append(self.register_task(target))
        return found

    def _register_module(self, module: ModuleType) -> list[BaseTask]:
        found = []
        for obj in list(vars(module).values()):
            if isinstance(obj, Workflow):
                self.register_workflow(obj)
            elif isinstance(obj, BaseTask):
                found.append(self.register_task(obj))
            elif (
                inspect.isclass(obj)
                and issubclass(obj, BaseTask)
                and obj.__module__ == module.__name__
            ):
                if not inspect.isabstract(obj):
                    found.append(self.register_task(obj))
                elif _unfinished_task(obj):
                    raise _unfinished_error(obj)
        return found

    def __contains__(self, task_name: object) -> bool:
        return task_name in self._tasks

    def __iter__(self) -> Iterator[BaseTask]:
        return iter(self.list_tasks())

    def __len__(self) -> int:
        return len(self._tasks)


#: The members every task must define (BaseTask's abstract ones).
_TASK_CONTRACT = frozenset(BaseTask.__abstractmethods__)


def _unfinished_task(cls: type[BaseTask]) -> bool:
    """Whether abstract ``cls`` is a task missing members, not a base class for tasks
    (which discovery skips): it defines both ``task_name`` and ``execute`` and lacks
    only members of BaseTask's contract. A base may well define one of the two (the
    work shared by its subclasses, or their names computed from a class attribute), and
    one defining both still declares abstract members of its own for its subclasses to
    fill in."""
    missing = cls.__abstractmethods__
    return not missing & {"task_name", "execute"} and missing <= _TASK_CONTRACT


def _unfinished_error(cls: type[BaseTask]) -> TaskDefinitionError:
    missing = ", ".join(sorted(cls.__abstractmethods__))
    name = inspect.getattr_static(cls, "task_name", None)
    return TaskDefinitionError(
        f"task class {cls.__module__}.{cls.__qualname__} defines task_name and execute "
        f"but not {missing}: it cannot be registered",
        # A name set as a class attribute reads without an instance; a property's does not.
        task=name if isinstance(name, str) else None,
    )


def _same_definition(a: BaseTask, b: BaseTask) -> bool:
    return a is b or definition(a) is definition(b)


def _redefinition(a: BaseTask, b: BaseTask) -> bool:
    """Whether ``b``'s definition is ``a``'s made again: another function or class object
    of the same module and qualified name, as a notebook cell run again or
    ``importlib.reload`` makes. A module imported under two names (``__main__`` and its
    own) gives two modules: still a duplicate, as two definition sites are."""
    where = [
        (getattr(d, "__module__", None), getattr(d, "__qualname__", None))
        for d in (definition(a), definition(b))
    ]
    return None not in where[0] and where[0] == where[1]


def _walk(package: str) -> list[ModuleType]:
    root = _import(package, f"task package {package!r} cannot be imported")
    modules = [root]
    path = getattr(root, "__path__", None)
    if path is not None:
        modules.extend(_walk_path(list(path), package, set()))
    return modules


def _walk_path(path: list[str], package: str, seen: set[str]) -> list[ModuleType]:
    """The modules under one package's ``__path__``, recursively, by name.

    ``pkgutil.walk_packages`` only lists folders having an ``__init__.py``; a folder
    without one is a namespace package Python imports all the same (``import
    pkg.customer.status`` works), so a task in it must not be silently left out.
    """
    folders = [p for p in path if os.path.isdir(p) and os.path.realpath(p) not in seen]
    # A symlink back up the tree would otherwise be walked (and its modules imported
    # under a new name) forever.
    seen.update(os.path.realpath(p) for p in folders)
    listed = {info.name: info.ispkg for info in pkgutil.iter_modules(folders)}
    namespaces = {
        entry.name
        for folder in folders
        for entry in os.scandir(folder)
        if entry.is_dir() and _may_be_namespace(entry.name) and entry.name not in listed
    }
    modules: list[ModuleType] = []
    for name in sorted(listed.keys() | namespaces):
        full = f"{package}.{name}"
        if name in namespaces:
            # Not imported itself (it has no code): its modules import it if there are any.
            sub = [os.path.join(folder, name) for folder in folders]
            modules.extend(_walk_path(sub, full, seen))
            continue
        module = _import(full, f"task module {full!r} failed to import")
        modules.append(module)
        if listed[name]:
            modules.extend(_walk_path(list(getattr(module, "__path__", [])), full, seen))
    return modules


def _may_be_namespace(folder: str) -> bool:
    # Hidden folders and names like "static-files" are never imported by an import
    # statement; __pycache__ holds bytecode of the modules next to it.
    return folder.isidentifier() and folder != "__pycache__"


def _import(name: str, failure: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except TaskDefinitionError:
        # A task declared wrongly at import (``@task`` without its parentheses) already
        # says what is at fault.
        raise
    except ImportError as exc:
        raise TaskDefinitionError(f"{failure}: {exc}{_origin(exc)}") from exc
    except Exception as exc:
        # A module reading a setting that is not there (os.environ["DB_URL"]), a syntax
        # error, any code failing at import: as broken as a missing dependency, and the
        # user needs the module named, not a bare KeyError. KeyboardInterrupt and
        # SystemExit are not Exceptions: they still stop the process.
        raise TaskDefinitionError(f"{failure}: {_import_failure(exc)}") from exc


def _import_failure(exc: Exception) -> str:
    if isinstance(exc, SyntaxError):
        # Its str() repeats the file's base name and line: the full place follows.
        return f"{type(exc).__name__}: {exc.msg}{_origin(exc)}"
    return f"{type(exc).__name__}: {exc}{_origin(exc)}"


#: Code that is not the user's: where an error raised there is not where to look.
#: schedkit's own folder too, for a checkout (RetryPolicy refusing a value raises there).
_LIBRARY_PATHS = tuple(
    os.path.join(os.path.realpath(path), "")
    for path in [
        *(sysconfig.get_path(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")),
        os.path.dirname(__file__),
    ]
)
_IMPORTLIB = os.path.join(os.path.dirname(os.path.realpath(importlib.__file__)), "")


def _origin(exc: BaseException) -> str:
    """`` (file:line)`` of the user's code that raised during an import, or ``""``.

    The deepest frame outside the standard library and installed packages (the
    ``os.environ[...]`` line, not ``os.py``); when there is none (task code installed
    into site-packages), the imported module's line that started the failure.
    """
    if isinstance(exc, SyntaxError):
        return _place(exc.filename, exc.lineno) if exc.filename else ""
    # The first frame is schedkit's, which caught it; importlib's are frozen
    # (``<frozen importlib._bootstrap>``) or under its folder.
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)[1:]
        if not frame.filename.startswith("<")
        and not os.path.realpath(frame.filename).startswith(_IMPORTLIB)
    ]
    if not frames:
        return ""
    own = [f for f in frames if not os.path.realpath(f.filename).startswith(_LIBRARY_PATHS)]
    frame = own[-1] if own else frames[0]
    return _place(frame.filename, frame.lineno)


def _place(filename: str, line: int | None) -> str:
    path = os.path.relpath(filename) if filename.startswith(os.getcwd() + os.sep) else filename
    return f" ({path}:{line})" if line else f" ({path})"


#: The design document's global registry; the Scheduler uses it unless given another.
task_registry = TaskRegistry()
