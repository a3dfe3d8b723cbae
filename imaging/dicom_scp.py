"""A DICOM Storage SCP (C-ECHO, C-STORE) that de-identifies every instance on arrival.

Contract: `StoreSCP(key=..., on_received=..., ...)` answers C-ECHO, and C-STORE for the image
storage SOP classes the de-identification profile admits (`imaging.profile.IMAGE_SOP_CLASSES`).
Each received instance is taken as encoded by the sender (never decoded by pynetdicom), passed
through `imaging.deid.deidentify_file` with the caller's key, and only the `DeidResult` reaches
`on_received(ReceivedImage)`; the original bytes are never written anywhere. Nothing here knows
what the caller does with the result (the platform makes cases of it: `challenges`).

Refusals carry a failure status and an Error Comment holding a stable code (never a value from
the dataset), are logged, and are reported to `on_refused(calling_ae, sop_class_uid, code)`:
- other standard storage classes (documents, SR, raw data...) are negotiated so that each
  C-STORE gets 0x0122 "SOP class not supported"; private SOP classes are not negotiated at all
  (the association refuses their presentation context, which the sender reports);
- a dataset that fails admission, de-identification or the leak scan gets the status in
  `REJECTION_STATUS` (0xA700/0xA900/0xC0xx), and nothing reaches `on_received`;
- `on_received` may raise `StoreRefused(status, code)` to refuse an instance itself; any other
  exception becomes 0xA700 (logged with its traceback), so the sender can retry later.
Associations are refused unless the called AE title is ours and, when `allowed_calling_aes` is
given, the calling AE title is one of them. `on_association_end` runs in the thread that ran the
association's handlers when it is released or aborted (the caller closes its database connection).

Memory: a C-STORE's dataset is held in memory by pynetdicom until it is complete, then
de-identified and dropped: at most one instance per association (`max_associations` of them),
never a whole study. De-identification and `on_received` run one at a time (a lock), because
`imaging.dicom_admit.parse_dicom` records warnings process-wide and so that the caller's writes
need no locking of their own.
"""

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, _config, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from imaging.deid import DeidResult, deidentify_file
from imaging.errors import ImageFileRejected
from imaging.profile import IMAGE_SOP_CLASSES

logger = logging.getLogger(__name__)

STATUS_SUCCESS = 0x0000
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_DATASET_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
# Per rejection code of `imaging.errors`; a code not listed here gets 0xC000.
REJECTION_STATUS: dict[str, int] = {
    "unsupported_sop_class": STATUS_SOP_CLASS_NOT_SUPPORTED,
    "too_large": STATUS_OUT_OF_RESOURCES,
    "missing_uid": STATUS_DATASET_MISMATCH,
    "no_pixels": STATUS_DATASET_MISMATCH,
    "unreadable": STATUS_CANNOT_UNDERSTAND,
    "unsupported_format": 0xC001,
    "leak_detected": 0xC003,
}
DEFAULT_AE_TITLE = "ENCLAVE"
DEFAULT_MAX_ASSOCIATIONS = 4


@dataclass(frozen=True)
class ReceivedImage:
    """One de-identified instance and who sent it (the calling AE title is the sender's
    configured name, not a value from the dataset)."""

    result: DeidResult
    calling_ae: str
    sop_class_uid: str


class StoreRefused(Exception):
    """Raised by `on_received` to refuse an instance with `status` and a short stable `code`."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


def _response(status: int, code: str = "") -> Dataset:
    rsp = Dataset()
    rsp.Status = status
    if code:
        rsp.ErrorComment = code[:64]
    return rsp


class StoreSCP:
    def __init__(
        self,
        *,
        key: bytes,
        on_received: Callable[[ReceivedImage], None],
        on_refused: Callable[[str, str, str], None] | None = None,
        on_association_end: Callable[[], None] | None = None,
        ae_title: str = DEFAULT_AE_TITLE,
        allowed_calling_aes: Sequence[str] = (),
        max_associations: int = DEFAULT_MAX_ASSOCIATIONS,
    ) -> None:
        if _config.STORE_RECV_CHUNKED_DATASET:  # would spool the original bytes to a temp file
            raise RuntimeError("pynetdicom must keep received datasets in memory")
        self._key = key
        self._on_received = on_received
        self._on_refused = on_refused
        self._on_association_end = on_association_end
        self._lock = threading.Lock()
        self.ae = AE(ae_title=ae_title)
        self.ae.maximum_associations = max_associations
        self.ae.require_called_aet = True
        self.ae.require_calling_aet = list(allowed_calling_aes)
        self.ae.add_supported_context(Verification)
        for uid in IMAGE_SOP_CLASSES:
            self.ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        for context in AllStoragePresentationContexts:  # negotiated, then refused with a reason
            abstract = context.abstract_syntax
            if abstract is not None and abstract not in IMAGE_SOP_CLASSES:
                self.ae.add_supported_context(abstract, ALL_TRANSFER_SYNTAXES)

    def start(self, address: str, port: int) -> ThreadedAssociationServer:
        """Listen on (address, port) in a background thread; port 0 picks a free one (read it
        from `server.server_address`). Stop with `server.shutdown()`."""
        handlers: list[tuple[evt.EventType, Callable[..., Any]]] = [
            (evt.EVT_C_ECHO, self._echo), (evt.EVT_C_STORE, self._store)]
        if self._on_association_end is not None:  # both run in the association's own thread
            handlers += [(evt.EVT_RELEASED, self._association_end),
                         (evt.EVT_ABORTED, self._association_end)]
        server = self.ae.start_server(
            (address, port), block=False, evt_handlers=handlers  # type: ignore[arg-type]
        )
        assert server is not None  # non-blocking start always returns the server
        return server

    def _echo(self, event: evt.Event) -> int:
        return STATUS_SUCCESS

    def _association_end(self, event: evt.Event) -> None:
        if self._on_association_end is not None:
            self._on_association_end()

    def _refuse(self, calling_ae: str, sop_class: str, status: int, code: str) -> Dataset:
        logger.warning("C-STORE from %r refused with 0x%04X: %s (SOP class %s)",
                       calling_ae, status, code, sop_class)
        if self._on_refused is not None:
            try:
                self._on_refused(calling_ae, sop_class, code)
            except Exception:
                logger.exception("recording a refused C-STORE failed")
        return _response(status, code)

    def _store(self, event: evt.Event) -> Dataset:
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        sop_class = str(event.request.AffectedSOPClassUID or "")
        if sop_class not in IMAGE_SOP_CLASSES:
            return self._refuse(calling_ae, sop_class, STATUS_SOP_CLASS_NOT_SUPPORTED,
                                "unsupported_sop_class")
        with self._lock:
            try:
                result = deidentify_file(event.encoded_dataset(include_meta=True), key=self._key)
            except ImageFileRejected as exc:
                status = REJECTION_STATUS.get(exc.code, STATUS_CANNOT_UNDERSTAND)
                return self._refuse(calling_ae, sop_class, status, exc.code)
            if result.kind != "dicom" or result.actions.get("sop_class_uid") != sop_class:
                return self._refuse(calling_ae, sop_class, STATUS_DATASET_MISMATCH,
                                    "sop_class_mismatch")
            try:
                self._on_received(ReceivedImage(result, calling_ae, sop_class))
            except StoreRefused as exc:
                return self._refuse(calling_ae, sop_class, exc.status, exc.code)
            except Exception:
                logger.exception("storing a received instance failed")
                return self._refuse(calling_ae, sop_class, STATUS_OUT_OF_RESOURCES,
                                    "storage_failed")
        return _response(STATUS_SUCCESS)
