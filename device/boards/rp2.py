"""RP2040 node board (e.g. a Raspberry Pi Pico with an RFM95W LoRa module or an RS-485 transceiver).

The pin map below is the reference wiring; an installer with different wiring edits only
this file. `MachineBoard` builds the `machine` objects from it.
"""

import machine
import rp2

from device.boards.machine_board import MachineBoard

# The node key's blocks: the last two 4 KiB blocks of the flash storage, which the image's
# _boot.py (device/rp2_image) leaves out of the file system.
KEY_BLOCKS = 2


def key_blocks():
    """The node key's flash blocks (device/keyslot.py), beyond the end of the file system."""
    storage = rp2.Flash().ioctl(4, 0) or 0  # the storage's size in 4 KiB blocks (never None here)
    return rp2.Flash(start=(storage - KEY_BLOCKS) * 4096, len=KEY_BLOCKS * 4096)


class Board(MachineBoard):
    I2C_SCL, I2C_SDA = 5, 4
    I2S_SCK, I2S_WS, I2S_SD = 10, 11, 12
    IMPACT_ADC, BATTERY_ADC = 26, 27
    TAMPER = 15
    UART_ID, UART_TX, UART_RX, RS485_DE = 0, 0, 1, 2
    SPI_ID, LORA_SCK, LORA_MOSI, LORA_MISO = 0, 18, 19, 16
    LORA_CS, LORA_DIO0, LORA_RESET = 17, 21, 20
    RESET_CAUSES = {machine.PWRON_RESET: 1, machine.WDT_RESET: 3}

    def _impact_timer(self):
        return machine.Timer(-1)  # a virtual (software) timer

    def temperature_dc(self):
        # RP2040 datasheet 4.9.5: T = 27 - (V - 0.706) / 0.001721, sensor on ADC input 4
        millivolts = machine.ADC(4).read_u16() * 3300 >> 16
        return 270 - (millivolts - 706) * 10000 // 1721
