"""Sandbox imitation of the digipost API (to be written)."""

from fastapi import APIRouter

SETTINGS = "digipost"
router = APIRouter(prefix="/digipost")
