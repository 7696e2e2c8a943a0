"""``/protocols``: upload protocols, list and delete them, read their analyses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from labtwin.twin.ot2.robot_api.protocol_store import ProtocolStore, StoredProtocol, UploadedFile
from labtwin.twin.ot2.robot_api.responses import ApiError, error_responses
from labtwin.twin.ot2.robot_api.run_store import RunStore

__all__ = ["router"]

router = APIRouter(tags=["Protocol Management"], responses=error_responses(400, 404, 409, 422))


def _protocols(request: Request) -> ProtocolStore:
    store: ProtocolStore = request.app.state.protocols
    return store


def _runs(request: Request) -> RunStore:
    store: RunStore = request.app.state.runs
    return store


def _with_links(request: Request, stored: StoredProtocol) -> dict[str, Any]:
    referencing = [{"id": run.id, "href": f"/runs/{run.id}"} for run in _runs(request).all()
                   if run.protocol_id == stored.id]
    return {"data": stored.resource(), "links": {"referencingRuns": referencing}}


@router.post("/protocols", status_code=201, summary="Upload a protocol")
async def upload_protocol(request: Request, files: Annotated[list[UploadFile], File(description=(
                              "One Python protocol plus any custom labware JSON files, or one JSON protocol"))],
                          key: Annotated[str | None, Form(description="a client's own label for the upload")] = None,
                          ) -> dict[str, Any]:
    """Check and store a protocol; its analysis starts at once (``analysisSummaries``: ``pending``)."""
    uploads = [UploadedFile(name=file.filename or "", content=await file.read()) for file in files]
    stored = await _protocols(request).add(uploads, key, in_use=_runs(request).protocol_ids_in_use())
    return _with_links(request, stored)


@router.get("/protocols", summary="List the uploaded protocols")
async def list_protocols(request: Request) -> dict[str, Any]:
    """Every stored protocol, oldest first."""
    protocols = _protocols(request).all()
    return {"data": [stored.resource() for stored in protocols],
            "meta": {"cursor": 0, "totalLength": len(protocols)}}


@router.get("/protocols/{protocolId}", summary="Get one protocol")
async def get_protocol(request: Request, protocolId: str) -> dict[str, Any]:  # noqa: N803 - the API's name
    """The protocol, with links to the runs built from it."""
    return _with_links(request, _protocols(request).get(protocolId))


@router.delete("/protocols/{protocolId}", summary="Delete a protocol")
async def delete_protocol(request: Request, protocolId: str) -> dict[str, Any]:  # noqa: N803
    """Delete a protocol no run uses (409 if one does)."""
    await _protocols(request).delete(protocolId, in_use=_runs(request).protocol_ids_in_use())
    return {}


@router.get("/protocols/{protocolId}/analyses", summary="List a protocol's analyses")
async def list_analyses(request: Request, protocolId: str) -> dict[str, Any]:  # noqa: N803
    """The protocol's analyses, oldest first; a ``pending`` one has only ``id`` and ``status``."""
    analyses = _protocols(request).get(protocolId).analyses
    return {"data": list(analyses), "meta": {"cursor": 0, "totalLength": len(analyses)}}


@router.get("/protocols/{protocolId}/analyses/{analysisId}", summary="Get one analysis")
async def get_analysis(request: Request, protocolId: str, analysisId: str) -> dict[str, Any]:  # noqa: N803
    """One analysis of the protocol."""
    for analysis in _protocols(request).get(protocolId).analyses:
        if analysis["id"] == analysisId:
            return {"data": analysis}
    raise ApiError(404, "AnalysisNotFound", "Analysis Not Found",
                   f"Analysis {analysisId} of protocol {protocolId} was not found.")
