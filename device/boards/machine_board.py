"""What every real board does the same way: build the `machine` objects from a pin map and
hand them to the drivers. A port's module (`esp32`, `rp2`) subclasses `MachineBoard` with
its reference wiring and overrides what its `machine` does differently (ADC attenuation,
UART and SPI ids, timers, the die temperature). An installer with other wiring edits only
the pin map of the port's module.
"""

import machine

from device.drivers.adxl345 import ADXL345
from device.drivers.analog import BatteryMonitor, ImpactChannel, TamperSwitch
from device.drivers.microphone import Microphone
from device.hal import BoardClock

_WATCHDOG_MS = 8000  # the RP2040's maximum is 8388 ms; the ESP32 allows more


class MachineBoard:
    # The pin map: a port's module sets every one of these.
    I2C_SCL = I2C_SDA = I2S_SCK = I2S_WS = I2S_SD = 0
    IMPACT_ADC = BATTERY_ADC = TAMPER = 0
    UART_ID = UART_TX = UART_RX = RS485_DE = 0
    SPI_ID = LORA_SCK = LORA_MOSI = LORA_MISO = LORA_CS = LORA_DIO0 = LORA_RESET = 0
    RESET_CAUSES: dict = {}

    def __init__(self, identity):
        self.clock = BoardClock(identity["node_id"] ^ machine.unique_id()[-1])
        self.reset_cause = self.RESET_CAUSES.get(machine.reset_cause(), 0)
        self.watchdog = machine.WDT(timeout=_WATCHDOG_MS)
        self.accelerometer = self.microphone = None
        if identity["role"] != "ground":  # a ground node has only its geophone (device/node.py)
            self._fence_and_microphone()
        self.impact = ImpactChannel(self._adc(self.IMPACT_ADC))
        self._timer = self._impact_timer()
        self._timer.init(freq=1000, mode=machine.Timer.PERIODIC, callback=self.impact.tick)
        self.tamper = TamperSwitch(machine.Pin(self.TAMPER, machine.Pin.IN, machine.Pin.PULL_UP))
        self.battery = BatteryMonitor(self._adc(self.BATTERY_ADC))
        self.link_kind = identity["link"]
        self.link = self._link()
        if identity["role"] == "bridge" and not hasattr(self, "uart"):
            self.uart = self._uart()

    def _fence_and_microphone(self):
        i2c = machine.I2C(0, scl=machine.Pin(self.I2C_SCL), sda=machine.Pin(self.I2C_SDA), freq=400000)
        self.accelerometer = ADXL345(i2c)
        i2s = machine.I2S(
            0,
            sck=machine.Pin(self.I2S_SCK),
            ws=machine.Pin(self.I2S_WS),
            sd=machine.Pin(self.I2S_SD),
            mode=machine.I2S.RX,
            bits=32,
            format=machine.I2S.MONO,
            rate=8000,
            ibuf=16384,
        )
        self.microphone = Microphone(i2s)

    # -- what ports do differently ---------------------------------------------------------------

    def _adc(self, pin):
        return machine.ADC(machine.Pin(pin))

    def _impact_timer(self):
        return machine.Timer(0)

    def _uart(self):
        return machine.UART(self.UART_ID, 115200, tx=machine.Pin(self.UART_TX), rx=machine.Pin(self.UART_RX), timeout=0)

    def temperature_dc(self):
        return 0

    # -- the same everywhere ---------------------------------------------------------------------

    def _link(self):
        if self.link_kind == "lora":
            from device.link.lora import LoraLink

            self.modem = self._modem()
            return LoraLink(self.modem, self.clock)
        from device.link.serial import SerialLink

        self.uart = self._uart()
        return SerialLink(self.uart, machine.Pin(self.RS485_DE, machine.Pin.OUT, value=0))

    def _modem(self):
        from lora import AsyncSX1276  # micropython-lib, installed with `mpremote mip install lora-sx127x`

        spi = machine.SPI(
            self.SPI_ID,
            baudrate=2000000,
            sck=machine.Pin(self.LORA_SCK),
            mosi=machine.Pin(self.LORA_MOSI),
            miso=machine.Pin(self.LORA_MISO),
        )
        cfg = {"freq_khz": 868100, "sf": 10, "bw": "125", "coding_rate": 5, "preamble_len": 8, "output_power": 14}
        return AsyncSX1276(
            spi,
            machine.Pin(self.LORA_CS),
            dio0=machine.Pin(self.LORA_DIO0),
            reset=machine.Pin(self.LORA_RESET),
            lora_cfg=cfg,
        )

    def read_impact(self, channel, samples, count):
        return channel.drain(samples, count)  # filled by the 1 kHz timer

    def reset(self):
        machine.reset()

    def log(self, message):
        print(message)
