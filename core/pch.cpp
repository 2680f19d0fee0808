// Translation unit that carries the precompiled header (core/pch.h).
