# examples/: programs showing how an emulator embeds libcoblock.
