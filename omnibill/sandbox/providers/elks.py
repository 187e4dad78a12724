"""Sandbox imitation of the elks API (to be written)."""

from fastapi import APIRouter

SETTINGS = "elks"
router = APIRouter(prefix="/46elks")
