"""RP2040 node board (e.g. a Raspberry Pi Pico with an RFM95W LoRa module or an RS-485 transceiver).

The pin map below is the reference wiring; an installer with different wiring edits only
this file. This is the one place that builds `machine` objects for an RP2040.
"""

import machine
from micropython import const

from device.drivers.adxl345 import ADXL345
from device.drivers.analog import BatteryMonitor, ImpactChannel, TamperSwitch
from device.drivers.microphone import Microphone
from device.hal import BoardClock

_I2C_SCL = const(5)
_I2C_SDA = const(4)
_I2S_SCK = const(10)
_I2S_WS = const(11)
_I2S_SD = const(12)
_IMPACT_ADC = const(26)
_BATTERY_ADC = const(27)
_TAMPER = const(15)
_UART_TX = const(0)
_UART_RX = const(1)
_RS485_DE = const(2)
_LORA_SCK = const(18)
_LORA_MOSI = const(19)
_LORA_MISO = const(16)
_LORA_CS = const(17)
_LORA_DIO0 = const(21)
_LORA_RESET = const(20)
_WATCHDOG_MS = const(8000)  # the RP2040's maximum is 8388 ms

_RESET_CAUSES = {machine.PWRON_RESET: 1, machine.WDT_RESET: 3}


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
        impact_adc = machine.ADC(machine.Pin(_IMPACT_ADC))
        self.impact = ImpactChannel(impact_adc)
        self._timer = machine.Timer(-1)  # a virtual (software) timer
        self._timer.init(freq=1000, mode=machine.Timer.PERIODIC, callback=self.impact.tick)
        self.tamper = TamperSwitch(machine.Pin(_TAMPER, machine.Pin.IN, machine.Pin.PULL_UP))
        self.battery = BatteryMonitor(machine.ADC(machine.Pin(_BATTERY_ADC)))
        self.link_kind = identity["link"]
        self.link = self._link()
        if identity["role"] == "bridge" and not hasattr(self, "uart"):
            self.uart = machine.UART(0, 115200, tx=machine.Pin(_UART_TX), rx=machine.Pin(_UART_RX), timeout=0)

    def _link(self):
        if self.link_kind == "lora":
            from device.link.lora import LoraLink

            self.modem = self._modem()
            return LoraLink(self.modem, self.clock)
        from device.link.serial import SerialLink

        self.uart = machine.UART(0, 115200, tx=machine.Pin(_UART_TX), rx=machine.Pin(_UART_RX), timeout=0)
        return SerialLink(self.uart, machine.Pin(_RS485_DE, machine.Pin.OUT, value=0))

    def _modem(self):
        from lora import AsyncSX1276  # micropython-lib, installed with `mpremote mip install lora-sx127x`

        spi = machine.SPI(
            0, baudrate=2000000, sck=machine.Pin(_LORA_SCK), mosi=machine.Pin(_LORA_MOSI), miso=machine.Pin(_LORA_MISO)
        )
        cfg = {"freq_khz": 868100, "sf": 10, "bw": "125", "coding_rate": 5, "preamble_len": 8, "output_power": 14}
        return AsyncSX1276(
            spi, machine.Pin(_LORA_CS), dio0=machine.Pin(_LORA_DIO0), reset=machine.Pin(_LORA_RESET), lora_cfg=cfg
        )

    def read_impact(self, channel, samples, count):
        return channel.drain(samples, count)  # filled by the 1 kHz timer

    def temperature_dc(self):
        # RP2040 datasheet 4.9.5: T = 27 - (V - 0.706) / 0.001721, sensor on ADC input 4
        millivolts = machine.ADC(4).read_u16() * 3300 >> 16
        return 270 - (millivolts - 706) * 10000 // 1721

    def reset(self):
        machine.reset()

    def log(self, message):
        print(message)
