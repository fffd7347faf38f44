"""ESP32 node board (e.g. a TTGO LoRa32 or an ESP32 DevKit with an RS-485 transceiver).

The pin map below is the reference wiring; an installer with different wiring edits only
this file. `MachineBoard` builds the `machine` objects from it.
"""

import machine

from device.boards.machine_board import MachineBoard


class NvsBlocks:
    """The node key's two records (device/keyslot.py) as blobs in the ESP32's NVS partition,
    which the file system does not cover; NVS commits each write whole."""

    def __init__(self, nvs):
        self.nvs = nvs

    def readblocks(self, n, buf, offset=0):
        try:
            self.nvs.get_blob("key%d" % n, buf)
        except OSError:  # never written: reads as erased flash
            for i in range(len(buf)):
                buf[i] = 0xFF

    def writeblocks(self, n, buf, offset=0):
        self.nvs.set_blob("key%d" % n, buf)
        self.nvs.commit()

    def ioctl(self, op, arg):
        return 0  # NVS replaces a blob whole: nothing to erase first


def key_blocks():
    import esp32

    return NvsBlocks(esp32.NVS("perimeter"))


class Board(MachineBoard):
    I2C_SCL, I2C_SDA = 22, 21
    I2S_SCK, I2S_WS, I2S_SD = 32, 25, 33
    IMPACT_ADC, BATTERY_ADC = 34, 35
    TAMPER = 13
    UART_ID, UART_TX, UART_RX, RS485_DE = 2, 17, 16, 4
    SPI_ID, LORA_SCK, LORA_MOSI, LORA_MISO = 1, 5, 27, 19
    LORA_CS, LORA_DIO0, LORA_RESET = 18, 26, 14
    RESET_CAUSES = {
        machine.PWRON_RESET: 1,
        machine.HARD_RESET: 2,
        machine.WDT_RESET: 3,
        machine.DEEPSLEEP_RESET: 4,
        machine.SOFT_RESET: 5,
    }

    def _adc(self, pin):
        return machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)  # 0-3.3 V full scale

    def temperature_dc(self):
        import esp32

        return (esp32.raw_temperature() - 32) * 50 // 9  # the die sensor reports Fahrenheit
