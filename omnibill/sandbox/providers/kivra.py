"""Sandbox imitation of the kivra API (to be written)."""

from fastapi import APIRouter

SETTINGS = "kivra"
router = APIRouter(prefix="/kivra")
