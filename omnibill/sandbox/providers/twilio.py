"""Sandbox imitation of the twilio API (to be written)."""

from fastapi import APIRouter

SETTINGS = "twilio"
router = APIRouter(prefix="/twilio")
