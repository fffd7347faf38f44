"""ESP32 node board (e.g. a TTGO LoRa32 or an ESP32 DevKit with an RS-485 transceiver).

The pin map below is the reference wiring; an installer with different wiring edits only
this file. This is the one place that builds `machine` objects for an ESP32.
"""

import machine
from micropython import const

from device.drivers.adxl345 import ADXL345
from device.drivers.analog import BatteryMonitor, ImpactChannel, TamperSwitch
from device.drivers.microphone import Microphone
from device.hal import BoardClock

_I2C_SCL = const(22)
_I2C_SDA = const(21)
_I2S_SCK = const(32)
_I2S_WS = const(25)
_I2S_SD = const(33)
_IMPACT_ADC = const(34)
_BATTERY_ADC = const(35)
_TAMPER = const(13)
_UART_TX = const(17)
_UART_RX = const(16)
_RS485_DE = const(4)
_LORA_SCK = const(5)
_LORA_MOSI = const(27)
_LORA_MISO = const(19)
_LORA_CS = const(18)
_LORA_DIO0 = const(26)
_LORA_RESET = const(14)
_WATCHDOG_MS = const(8000)

_RESET_CAUSES = {
    machine.PWRON_RESET: 1,
    machine.HARD_RESET: 2,
    machine.WDT_RESET: 3,
    machine.DEEPSLEEP_RESET: 4,
    machine.SOFT_RESET: 5,
}


class Board:
    def __init__(self, identity):
        self.clock = BoardClock(identity["node_id"] ^ machine.unique_id()[-1])
        self.reset_cause = _RESET_CAUSES.get(machine.reset_cause(), 0)
        self.watchdog = machine.WDT(timeout=_WATCHDOG_MS)
        i2c = machine.I2C(0, scl=machine.Pin(_I2C_SCL), sda=machine.Pin(_I2C_SDA), freq=400000)
        self.accelerometer = ADXL345(i2c)
        i2s = machine.I2S(
            0,
            sck=machine.Pin(_I2S_SCK),
            ws=machine.Pin(_I2S_WS),
            sd=machine.Pin(_I2S_SD),
            mode=machine.I2S.RX,
            bits=32,
            format=machine.I2S.MONO,
            rate=8000,
            ibuf=16384,
        )
        self.microphone = Microphone(i2s)
        impact_adc = machine.ADC(machine.Pin(_IMPACT_ADC), atten=machine.ADC.ATTN_11DB)
        self.impact = ImpactChannel(impact_adc)
        self._timer = machine.Timer(0)
        self._timer.init(freq=1000, mode=machine.Timer.PERIODIC, callback=self.impact.tick)
        self.tamper = TamperSwitch(machine.Pin(_TAMPER, machine.Pin.IN, machine.Pin.PULL_UP))
        self.battery = BatteryMonitor(machine.ADC(machine.Pin(_BATTERY_ADC), atten=machine.ADC.ATTN_11DB))
        self.link_kind = identity["link"]
        self.link = self._link()
        if identity["role"] == "bridge" and not hasattr(self, "uart"):
            self.uart = machine.UART(2, 115200, tx=_UART_TX, rx=_UART_RX, timeout=0)

    def _link(self):
        if self.link_kind == "lora":
            from device.link.lora import LoraLink

            self.modem = self._modem()
            return LoraLink(self.modem, self.clock)
        from device.link.serial import SerialLink

        self.uart = machine.UART(2, 115200, tx=_UART_TX, rx=_UART_RX, timeout=0)
        return SerialLink(self.uart, machine.Pin(_RS485_DE, machine.Pin.OUT, value=0))

    def _modem(self):
        from lora import AsyncSX1276  # micropython-lib, installed with `mpremote mip install lora-sx127x`

        spi = machine.SPI(
            1, baudrate=2000000, sck=machine.Pin(_LORA_SCK), mosi=machine.Pin(_LORA_MOSI), miso=machine.Pin(_LORA_MISO)
        )
        cfg = {"freq_khz": 868100, "sf": 10, "bw": "125", "coding_rate": 5, "preamble_len": 8, "output_power": 14}
        return AsyncSX1276(
            spi, machine.Pin(_LORA_CS), dio0=machine.Pin(_LORA_DIO0), reset=machine.Pin(_LORA_RESET), lora_cfg=cfg
        )

    def read_impact(self, channel, samples, count):
        return channel.drain(samples, count)  # filled by the 1 kHz timer

    def temperature_dc(self):
        import esp32

        return (esp32.raw_temperature() - 32) * 50 // 9  # the die sensor reports Fahrenheit

    def reset(self):
        machine.reset()

    def log(self, message):
        print(message)
