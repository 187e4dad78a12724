"""Sandbox imitation of the eboks API (to be written)."""

from fastapi import APIRouter

SETTINGS = "eboks"
router = APIRouter(prefix="/eboks")
