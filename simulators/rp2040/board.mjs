// The node's RP2040 image on the rp2040js emulator, with the board's parts around it.
//
//   node simulators/rp2040/board.mjs firmware.uf2 rp2040-bootrom-b1.bin [LINK_FD [CONTROL_FD]]
//
// - stdin/stdout: the USB CDC serial port (the MicroPython REPL), raw bytes both ways.
// - LINK_FD: UART0 (GP0 TX, GP1 RX), the node's link, raw bytes both ways (the Python side
//   passes a pseudo-terminal's master here, so the real gateway's serial transport reads it).
// - CONTROL_FD: the board's surroundings, one JSON object per line:
//     {"fence": "quiet" | "climb"}   what the ADXL345 on I2C0 (GP4/GP5, address 0x53) measures
//     {"impact": 2048}               the level on the impact channel (ADC0, GP26), 12 bits
//     {"tamper": true}               the tamper switch on GP15 open (pulled up) or closed
// - stderr: "speed S" lines, simulated seconds per wall second, every 5 simulated seconds.
//
// The emulator counts Cortex-M0+ cycles at 125 MHz and runs the board's timers on that clock,
// so ticks_us() on the emulated board measures what a real Pico would take.
import fs from 'node:fs';
import { Simulator, USBCDC, ConsoleLogger, LogLevel } from 'rp2040js';

const [imagePath, bootromPath, linkArg, controlArg] = process.argv.slice(2);
if (!imagePath || !bootromPath) {
  process.stderr.write('usage: node board.mjs firmware.uf2 rp2040-bootrom-b1.bin\n');
  process.exit(2);
}

const simulator = new Simulator();
const mcu = simulator.rp2040;
mcu.logger = new ConsoleLogger(LogLevel.Error);
const rom = fs.readFileSync(bootromPath);
mcu.loadBootrom(new Uint32Array(rom.buffer, rom.byteOffset, rom.byteLength / 4));

// UF2: 512-byte blocks, each with its payload's flash address (microsoft/uf2).
const uf2 = fs.readFileSync(imagePath);
for (let offset = 0; offset + 512 <= uf2.length; offset += 512) {
  const block = uf2.subarray(offset, offset + 512);
  const view = new DataView(block.buffer, block.byteOffset, 512);
  if (view.getUint32(0, true) !== 0x0a324655 || view.getUint32(4, true) !== 0x9e5d5157) continue;
  const address = view.getUint32(12, true);
  const size = view.getUint32(16, true);
  mcu.flash.set(block.subarray(32, 32 + size), address - 0x10000000);
}

// --- flash writes ---------------------------------------------------------------------------
// The emulator reads flash but does not model the flash chip's erase and program commands, so
// the node's LittleFS (identity, counters, settings) could not be written. The boot ROM's own
// flash_range_erase and flash_range_program (found through its function table, codes 'RE' and
// 'RP') are done here instead, on the emulated flash, then return to their caller.
function romFunction(code) {
  const words = new DataView(rom.buffer, rom.byteOffset, rom.byteLength);
  for (let entry = words.getUint16(0x14, true); ; entry += 4) {
    const found = words.getUint16(entry, true);
    if (found === 0) throw new Error('boot ROM has no function ' + code);
    if (found === (code.charCodeAt(0) | (code.charCodeAt(1) << 8))) return words.getUint16(entry + 2, true) & ~1;
  }
}
const FLASH_ERASE = romFunction('RE');
const FLASH_PROGRAM = romFunction('RP');
function flashCall(pc) {
  const r = mcu.core.registers;
  if (pc === FLASH_ERASE) {
    mcu.flash.fill(0xff, r[0], r[0] + r[1]); // (offset, count, block size, block command)
  } else {
    for (let i = 0; i < r[2]; i++) mcu.flash[r[0] + i] &= mcu.readUint8(r[1] + i); // (offset, data, count): NOR bits only clear
  }
  mcu.core.PC = mcu.core.LR & ~1;
}

// --- USB CDC: the REPL ---------------------------------------------------------------------
const cdc = new USBCDC(mcu.usbCtrl);
const toCdc = [];
let cdcReady = false;
cdc.onDeviceConnected = () => {
  cdcReady = true;
};
cdc.onSerialData = (bytes) => process.stdout.write(bytes);
process.stdin.on('data', (chunk) => {
  for (const byte of chunk) toCdc.push(byte);
});
process.stdin.on('end', () => {
  simulator.stop();
  process.exit(0);
});

// --- UART0: the node's link ----------------------------------------------------------------
const uart = mcu.uart[0];
// rp2040js re-raises the TX interrupt on every interrupt check (its TX has no FIFO), and
// MicroPython's UART keeps that interrupt enabled, so once a UART existed the core did
// nothing but enter uart0_irq_handler (found by sampling the PC). Here the TX interrupt is
// raised once per byte written, when the byte has gone (this TX sends at once), as a
// drained FIFO raises it on the chip; the handler's clear then holds.
const UART_TX_INTERRUPT = 1 << 5;
uart.checkInterrupts = () => mcu.setInterrupt(uart.irq, !!(uart.interruptStatus & uart.interruptMask));
const uartWrite = uart.writeUint32.bind(uart);
uart.writeUint32 = (offset, value) => {
  uartWrite(offset, value);
  if (offset === 0) {
    uart.interruptStatus |= UART_TX_INTERRUPT;
    uart.checkInterrupts();
  }
};
const toUart = [];
const linkFd = linkArg && linkArg !== '-' ? Number(linkArg) : null;
if (linkFd !== null) {
  const pending = [];
  let flushing = false;
  uart.onByte = (value) => {
    pending.push(value);
    if (!flushing) {
      flushing = true;
      setImmediate(() => {
        const out = Buffer.from(pending.splice(0));
        flushing = false;
        try {
          fs.writeSync(linkFd, out);
        } catch {
          // the gateway side closed the line; the node keeps running, as on a cut cable
        }
      });
    }
  };
  // Blocking reads in libuv's thread pool; a pseudo-terminal whose other end nobody holds
  // open reads as an error (EIO), so keep trying, as a UART keeps listening on a cut line.
  const buffer = Buffer.alloc(4096);
  const readLink = () =>
    fs.read(linkFd, buffer, 0, buffer.length, null, (error, count) => {
      if (error || count === 0) {
        setTimeout(readLink, 100);
        return;
      }
      for (let i = 0; i < count; i++) toUart.push(buffer[i]);
      readLink();
    });
  readLink();
}

// --- I2C0: an ADXL345 ----------------------------------------------------------------------
const ACCEL_RATE = 800; // samples per second, as the driver configures it (BW_RATE 0x0D)
const accel = {
  registers: new Uint8Array(64),
  pointer: 0,
  first: false,
  addressed: false,
  fence: 'quiet',
  produced: 0, // samples produced since the emulated clock started
  taken: 0, // samples read out of the FIFO
  sample: [0, 0, 256],
  seed: 12345,
};
accel.registers[0x00] = 0xe5; // DEVID

function noise(amplitude) {
  // xorshift32: deterministic, cheap
  let s = accel.seed;
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  accel.seed = s >>> 0;
  return ((accel.seed & 0xffff) / 0x8000 - 1) * amplitude;
}

function accelSample(n) {
  // 3.9 mg per LSB; gravity on z. A climb shakes the panel: bursts of ~90 Hz ringing.
  const t = n / ACCEL_RATE;
  let shake = 0;
  if (accel.fence === 'climb') {
    const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 1.3 * t);
    shake = 220 * envelope * Math.sin(2 * Math.PI * 90 * t);
  }
  return [Math.round(noise(3) + shake), Math.round(noise(3) + 0.6 * shake), Math.round(256 + noise(3) + 0.3 * shake)];
}

function fifoEntries() {
  if (!(accel.registers[0x2d] & 0x08)) return 0; // not measuring
  accel.produced = Math.floor((mcu.clock.nanos / 1e9) * ACCEL_RATE);
  if (accel.produced - accel.taken > 32) accel.taken = accel.produced - 32; // stream mode: oldest dropped
  return accel.produced - accel.taken;
}

function readRegister(register) {
  if (register === 0x39) return Math.min(fifoEntries(), 32) & 0x3f;
  if (register >= 0x32 && register <= 0x37) {
    if (register === 0x32) {
      if (fifoEntries() > 0) {
        accel.sample = accelSample(accel.taken);
        accel.taken++;
      }
    }
    const axis = (register - 0x32) >> 1;
    const v = accel.sample[axis] & 0xffff;
    return register & 1 ? v >> 8 : v & 0xff;
  }
  return accel.registers[register];
}

const i2c = mcu.i2c[0];
i2c.onStart = () => i2c.completeStart();
i2c.onConnect = (address) => {
  accel.addressed = address === 0x53;
  accel.first = true;
  i2c.completeConnect(accel.addressed);
};
i2c.onWriteByte = (value) => {
  if (accel.first) {
    accel.pointer = value & 0x3f;
    accel.first = false;
  } else {
    accel.registers[accel.pointer] = value;
    accel.pointer = (accel.pointer + 1) & 0x3f;
  }
  i2c.completeWrite(accel.addressed);
};
i2c.onReadByte = () => {
  i2c.completeRead(readRegister(accel.pointer));
  accel.pointer = (accel.pointer + 1) & 0x3f;
};
i2c.onStop = () => i2c.completeStop();

// --- ADC and GPIO: impact channel, battery, tamper switch ----------------------------------
mcu.adc.channelValues[0] = 2048; // impact channel at mid-rail
mcu.adc.channelValues[1] = 2420; // battery 3.9 V through a 1:2 divider
mcu.gpio[15].setInputValue(false); // tamper switch closed

const controlFd = controlArg ? Number(controlArg) : null;
if (controlFd !== null) {
  let text = '';
  const control = fs.createReadStream(null, { fd: controlFd, autoClose: false });
  control.on('data', (chunk) => {
    text += chunk.toString();
    let end;
    while ((end = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, end);
      text = text.slice(end + 1);
      if (!line.trim()) continue;
      const command = JSON.parse(line);
      if ('fence' in command) accel.fence = command.fence;
      if ('impact' in command) mcu.adc.channelValues[0] = command.impact;
      if ('tamper' in command) mcu.gpio[15].setInputValue(Boolean(command.tamper));
    }
  });
  control.on('error', () => {});
}

// --- run -----------------------------------------------------------------------------------
// Host input is handed over between slices of emulation, a little at a time: the CDC's
// receive FIFO and the UART's are small, and a real host's bytes arrive at line rate too.
const SLICE_NS = 2e6; // 2 ms of emulated time per slice
let lastReport = { simulated: 0, wall: Date.now() };
mcu.core.PC = 0x10000000;

function slice() {
  if (cdcReady) {
    for (let i = 0; i < 64 && toCdc.length && !cdc.txFIFO.full; i++) cdc.sendSerialByte(toCdc.shift());
  }
  // 115200 baud is about 23 bytes per 2 ms: feed no faster than the line would.
  for (let i = 0; i < 23 && toUart.length; i++) uart.feedByte(toUart.shift());
  const until = mcu.clock.nanos + SLICE_NS;
  const cycleNanos = 1e9 / 125e6;
  while (mcu.clock.nanos < until) {
    if (mcu.core.waiting) {
      const step = Math.min(mcu.clock.nanosToNextAlarm, until - mcu.clock.nanos);
      mcu.clock.tick(Math.max(step, cycleNanos));
    } else {
      const pc = mcu.core.PC;
      if (pc === FLASH_ERASE || pc === FLASH_PROGRAM) flashCall(pc);
      mcu.clock.tick(mcu.core.executeInstruction() * cycleNanos);
    }
  }
  const simulated = mcu.clock.nanos / 1e9;
  if (simulated - lastReport.simulated >= 5) {
    const wall = Date.now();
    process.stderr.write(`speed ${((simulated - lastReport.simulated) / ((wall - lastReport.wall) / 1000)).toFixed(3)}\n`);
    lastReport = { simulated, wall };
  }
  setImmediate(slice);
}
slice();
