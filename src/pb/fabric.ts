import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface Timestamp {
  seconds: number
  nanos: number
}

export namespace Timestamp {
  let _codec: Codec<Timestamp>

  export const codec = (): Codec<Timestamp> => {
    if (_codec == null) {
      _codec = message<Timestamp>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.seconds != null && obj.seconds !== 0)) {
          w.uint32(8)
          w.int64Number(obj.seconds)
        }

        if ((obj.nanos != null && obj.nanos !== 0)) {
          w.uint32(16)
          w.int32(obj.nanos)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          seconds: 0,
          nanos: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.seconds = reader.int64Number()
              break
            }
            case 2: {
              obj.nanos = reader.int32()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.seconds`,
                value: reader.int64Number()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.nanos`,
                value: reader.int32()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface TimestampSecondsFieldEvent {
    field: '$.seconds'
    value: number
  }

  export interface TimestampNanosFieldEvent {
    field: '$.nanos'
    value: number
  }

  export function encode (obj: Partial<Timestamp>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Timestamp.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Timestamp>): Timestamp {
    return decodeMessage(buf, Timestamp.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Timestamp>): Generator<TimestampSecondsFieldEvent | TimestampNanosFieldEvent> {
    return streamMessage(buf, Timestamp.codec(), opts)
  }
}

export interface Message {
  type: Message.Type
  timestamp?: Timestamp
  payload: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace Message {
  export enum Type {
    UNDEFINED = 'UNDEFINED',
    DISC_HELLO = 'DISC_HELLO',
    DISC_DISCONNECT = 'DISC_DISCONNECT',
    DISC_GET_PEERS = 'DISC_GET_PEERS',
    DISC_PEERS = 'DISC_PEERS',
    DISC_NEWMSG = 'DISC_NEWMSG',
    CHAIN_TRANSACTION = 'CHAIN_TRANSACTION',
    SYNC_GET_BLOCKS = 'SYNC_GET_BLOCKS',
    SYNC_BLOCKS = 'SYNC_BLOCKS',
    SYNC_BLOCK_ADDED = 'SYNC_BLOCK_ADDED',
    SYNC_STATE_GET_SNAPSHOT = 'SYNC_STATE_GET_SNAPSHOT',
    SYNC_STATE_SNAPSHOT = 'SYNC_STATE_SNAPSHOT',
    SYNC_STATE_GET_DELTAS = 'SYNC_STATE_GET_DELTAS',
    SYNC_STATE_DELTAS = 'SYNC_STATE_DELTAS',
    RESPONSE = 'RESPONSE',
    CONSENSUS = 'CONSENSUS'
  }

  enum __TypeValues {
    UNDEFINED = 0,
    DISC_HELLO = 1,
    DISC_DISCONNECT = 2,
    DISC_GET_PEERS = 3,
    DISC_PEERS = 4,
    DISC_NEWMSG = 5,
    CHAIN_TRANSACTION = 6,
    SYNC_GET_BLOCKS = 11,
    SYNC_BLOCKS = 12,
    SYNC_BLOCK_ADDED = 13,
    SYNC_STATE_GET_SNAPSHOT = 14,
    SYNC_STATE_SNAPSHOT = 15,
    SYNC_STATE_GET_DELTAS = 16,
    SYNC_STATE_DELTAS = 17,
    RESPONSE = 20,
    CONSENSUS = 21
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<Message>

  export const codec = (): Codec<Message> => {
    if (_codec == null) {
      _codec = message<Message>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(8)
          Message.Type.codec().encode(obj.type, w)
        }

        if (obj.timestamp != null) {
          w.uint32(18)
          Timestamp.codec().encode(obj.timestamp, w)
        }

        if ((obj.payload != null && obj.payload.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.payload)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          type: Type.UNDEFINED,
          payload: new Uint8Array(0),
          signature: new Uint8Array(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.type = Message.Type.codec().decode(reader)
              break
            }
            case 2: {
              obj.timestamp = Timestamp.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.timestamp
              })
              break
            }
            case 3: {
              obj.payload = reader.bytes()
              break
            }
            case 4: {
              obj.signature = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.type`,
                value: Message.Type.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield * Timestamp.codec().stream(reader, reader.uint32(), `${prefix}.timestamp`, {
                limits: opts.limits?.timestamp
              })

              break
            }
            case 3: {
              yield {
                field: `${prefix}.payload`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface MessageTypeFieldEvent {
    field: '$.type'
    value: Message.Type
  }

  export interface MessageTimestampSecondsFieldEvent {
    field: '$.timestamp.seconds'
    value: number
  }

  export interface MessageTimestampNanosFieldEvent {
    field: '$.timestamp.nanos'
    value: number
  }

  export interface MessagePayloadFieldEvent {
    field: '$.payload'
    value: Uint8Array<ArrayBuffer>
  }

  export interface MessageSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Message>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Message.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Message>): Message {
    return decodeMessage(buf, Message.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Message>): Generator<MessageTypeFieldEvent | MessageTimestampSecondsFieldEvent | MessageTimestampNanosFieldEvent | MessagePayloadFieldEvent | MessageSignatureFieldEvent> {
    return streamMessage(buf, Message.codec(), opts)
  }
}

export interface PeerID {
  name: string
}

export namespace PeerID {
  let _codec: Codec<PeerID>

  export const codec = (): Codec<PeerID> => {
    if (_codec == null) {
      _codec = message<PeerID>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.name != null && obj.name !== '')) {
          w.uint32(10)
          w.string(obj.name)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          name: ''
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.name = reader.string()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.name`,
                value: reader.string()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface PeerIDNameFieldEvent {
    field: '$.name'
    value: string
  }

  export function encode (obj: Partial<PeerID>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PeerID.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerID>): PeerID {
    return decodeMessage(buf, PeerID.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerID>): Generator<PeerIDNameFieldEvent> {
    return streamMessage(buf, PeerID.codec(), opts)
  }
}

export interface PeerEndpoint {
  ID?: PeerID
  address: string
  type: PeerEndpoint.Type
  pkiID: Uint8Array<ArrayBuffer>
}

export namespace PeerEndpoint {
  export enum Type {
    UNDEFINED = 'UNDEFINED',
    VALIDATOR = 'VALIDATOR',
    NON_VALIDATOR = 'NON_VALIDATOR'
  }

  enum __TypeValues {
    UNDEFINED = 0,
    VALIDATOR = 1,
    NON_VALIDATOR = 2
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<PeerEndpoint>

  export const codec = (): Codec<PeerEndpoint> => {
    if (_codec == null) {
      _codec = message<PeerEndpoint>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.ID != null) {
          w.uint32(10)
          PeerID.codec().encode(obj.ID, w)
        }

        if ((obj.address != null && obj.address !== '')) {
          w.uint32(18)
          w.string(obj.address)
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(24)
          PeerEndpoint.Type.codec().encode(obj.type, w)
        }

        if ((obj.pkiID != null && obj.pkiID.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.pkiID)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          address: '',
          type: Type.UNDEFINED,
          pkiID: new Uint8Array(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.ID = PeerID.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.ID
              })
              break
            }
            case 2: {
              obj.address = reader.string()
              break
            }
            case 3: {
              obj.type = PeerEndpoint.Type.codec().decode(reader)
              break
            }
            case 4: {
              obj.pkiID = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * PeerID.codec().stream(reader, reader.uint32(), `${prefix}.ID`, {
                limits: opts.limits?.ID
              })

              break
            }
            case 2: {
              yield {
                field: `${prefix}.address`,
                value: reader.string()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.type`,
                value: PeerEndpoint.Type.codec().decode(reader)
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.pkiID`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface PeerEndpointIDNameFieldEvent {
    field: '$.ID.name'
    value: string
  }

  export interface PeerEndpointAddressFieldEvent {
    field: '$.address'
    value: string
  }

  export interface PeerEndpointTypeFieldEvent {
    field: '$.type'
    value: PeerEndpoint.Type
  }

  export interface PeerEndpointPkiIDFieldEvent {
    field: '$.pkiID'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<PeerEndpoint>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PeerEndpoint.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerEndpoint>): PeerEndpoint {
    return decodeMessage(buf, PeerEndpoint.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerEndpoint>): Generator<PeerEndpointIDNameFieldEvent | PeerEndpointAddressFieldEvent | PeerEndpointTypeFieldEvent | PeerEndpointPkiIDFieldEvent> {
    return streamMessage(buf, PeerEndpoint.codec(), opts)
  }
}

export interface PeersMessage {
  peers: PeerEndpoint[]
}

export namespace PeersMessage {
  let _codec: Codec<PeersMessage>

  export const codec = (): Codec<PeersMessage> => {
    if (_codec == null) {
      _codec = message<PeersMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.peers != null && obj.peers.length > 0) {
          for (const value of obj.peers) {
            w.uint32(10)
            PeerEndpoint.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          peers: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.peers != null && obj.peers.length === opts.limits.peers) {
                throw new MaxLengthError('Decode error - repeated field "peers" had too many elements')
              }

              obj.peers.push(PeerEndpoint.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.peers$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          peers: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.peers != null && obj.peers === opts.limits.peers) {
                throw new MaxLengthError('Streaming decode error - repeated field "peers" had too many elements')
              }

              for (const evt of PeerEndpoint.codec().stream(reader, reader.uint32(), `${prefix}.peers[]`, {
                limits: opts.limits?.peers$
              })) {
                yield {
                  ...evt,
                  index: obj.peers
                }
              }

              obj.peers++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface PeersMessagePeersIDNameFieldEvent {
    field: '$.peers[].ID.name'
    value: string
    index: number
  }

  export interface PeersMessagePeersAddressFieldEvent {
    field: '$.peers[].address'
    value: string
    index: number
  }

  export interface PeersMessagePeersTypeFieldEvent {
    field: '$.peers[].type'
    value: PeerEndpoint.Type
    index: number
  }

  export interface PeersMessagePeersPkiIDFieldEvent {
    field: '$.peers[].pkiID'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export function encode (obj: Partial<PeersMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PeersMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeersMessage>): PeersMessage {
    return decodeMessage(buf, PeersMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeersMessage>): Generator<PeersMessagePeersIDNameFieldEvent | PeersMessagePeersAddressFieldEvent | PeersMessagePeersTypeFieldEvent | PeersMessagePeersPkiIDFieldEvent> {
    return streamMessage(buf, PeersMessage.codec(), opts)
  }
}

export interface PeersAddresses {
  addresses: string[]
}

export namespace PeersAddresses {
  let _codec: Codec<PeersAddresses>

  export const codec = (): Codec<PeersAddresses> => {
    if (_codec == null) {
      _codec = message<PeersAddresses>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.addresses != null && obj.addresses.length > 0) {
          for (const value of obj.addresses) {
            w.uint32(10)
            w.string(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          addresses: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.addresses != null && obj.addresses.length === opts.limits.addresses) {
                throw new MaxLengthError('Decode error - repeated field "addresses" had too many elements')
              }

              obj.addresses.push(reader.string())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          addresses: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.addresses != null && obj.addresses === opts.limits.addresses) {
                throw new MaxLengthError('Streaming decode error - repeated field "addresses" had too many elements')
              }

              yield {
                field: `${prefix}.addresses[]`,
                index: obj.addresses,
                value: reader.string()
              }

              obj.addresses++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface PeersAddressesAddressesFieldEvent {
    field: '$.addresses[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<PeersAddresses>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PeersAddresses.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeersAddresses>): PeersAddresses {
    return decodeMessage(buf, PeersAddresses.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeersAddresses>): Generator<PeersAddressesAddressesFieldEvent> {
    return streamMessage(buf, PeersAddresses.codec(), opts)
  }
}

export interface BlockchainInfo {
  height: number
  currentBlockHash: Uint8Array<ArrayBuffer>
  previousBlockHash: Uint8Array<ArrayBuffer>
}

export namespace BlockchainInfo {
  let _codec: Codec<BlockchainInfo>

  export const codec = (): Codec<BlockchainInfo> => {
    if (_codec == null) {
      _codec = message<BlockchainInfo>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.height != null && obj.height !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.height)
        }

        if ((obj.currentBlockHash != null && obj.currentBlockHash.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.currentBlockHash)
        }

        if ((obj.previousBlockHash != null && obj.previousBlockHash.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.previousBlockHash)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          height: 0,
          currentBlockHash: new Uint8Array(0),
          previousBlockHash: new Uint8Array(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.height = reader.uint64Number()
              break
            }
            case 2: {
              obj.currentBlockHash = reader.bytes()
              break
            }
            case 3: {
              obj.previousBlockHash = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.height`,
                value: reader.uint64Number()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.currentBlockHash`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.previousBlockHash`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface BlockchainInfoHeightFieldEvent {
    field: '$.height'
    value: number
  }

  export interface BlockchainInfoCurrentBlockHashFieldEvent {
    field: '$.currentBlockHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface BlockchainInfoPreviousBlockHashFieldEvent {
    field: '$.previousBlockHash'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<BlockchainInfo>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, BlockchainInfo.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<BlockchainInfo>): BlockchainInfo {
    return decodeMessage(buf, BlockchainInfo.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<BlockchainInfo>): Generator<BlockchainInfoHeightFieldEvent | BlockchainInfoCurrentBlockHashFieldEvent | BlockchainInfoPreviousBlockHashFieldEvent> {
    return streamMessage(buf, BlockchainInfo.codec(), opts)
  }
}

export interface HelloMessage {
  peerEndpoint?: PeerEndpoint
  blockchainInfo?: BlockchainInfo
}

export namespace HelloMessage {
  let _codec: Codec<HelloMessage>

  export const codec = (): Codec<HelloMessage> => {
    if (_codec == null) {
      _codec = message<HelloMessage>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.peerEndpoint != null) {
          w.uint32(10)
          PeerEndpoint.codec().encode(obj.peerEndpoint, w)
        }

        if (obj.blockchainInfo != null) {
          w.uint32(18)
          BlockchainInfo.codec().encode(obj.blockchainInfo, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {}

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peerEndpoint = PeerEndpoint.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.peerEndpoint
              })
              break
            }
            case 2: {
              obj.blockchainInfo = BlockchainInfo.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.blockchainInfo
              })
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * PeerEndpoint.codec().stream(reader, reader.uint32(), `${prefix}.peerEndpoint`, {
                limits: opts.limits?.peerEndpoint
              })

              break
            }
            case 2: {
              yield * BlockchainInfo.codec().stream(reader, reader.uint32(), `${prefix}.blockchainInfo`, {
                limits: opts.limits?.blockchainInfo
              })

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface HelloMessagePeerEndpointIDNameFieldEvent {
    field: '$.peerEndpoint.ID.name'
    value: string
  }

  export interface HelloMessagePeerEndpointAddressFieldEvent {
    field: '$.peerEndpoint.address'
    value: string
  }

  export interface HelloMessagePeerEndpointTypeFieldEvent {
    field: '$.peerEndpoint.type'
    value: PeerEndpoint.Type
  }

  export interface HelloMessagePeerEndpointPkiIDFieldEvent {
    field: '$.peerEndpoint.pkiID'
    value: Uint8Array<ArrayBuffer>
  }

  export interface HelloMessageBlockchainInfoHeightFieldEvent {
    field: '$.blockchainInfo.height'
    value: number
  }

  export interface HelloMessageBlockchainInfoCurrentBlockHashFieldEvent {
    field: '$.blockchainInfo.currentBlockHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface HelloMessageBlockchainInfoPreviousBlockHashFieldEvent {
    field: '$.blockchainInfo.previousBlockHash'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<HelloMessage>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, HelloMessage.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<HelloMessage>): HelloMessage {
    return decodeMessage(buf, HelloMessage.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<HelloMessage>): Generator<HelloMessagePeerEndpointIDNameFieldEvent | HelloMessagePeerEndpointAddressFieldEvent | HelloMessagePeerEndpointTypeFieldEvent | HelloMessagePeerEndpointPkiIDFieldEvent | HelloMessageBlockchainInfoHeightFieldEvent | HelloMessageBlockchainInfoCurrentBlockHashFieldEvent | HelloMessageBlockchainInfoPreviousBlockHashFieldEvent> {
    return streamMessage(buf, HelloMessage.codec(), opts)
  }
}

export interface Transaction {
  type: Transaction.Type
  chaincodeID: Uint8Array<ArrayBuffer>
  payload: Uint8Array<ArrayBuffer>
  metadata: Uint8Array<ArrayBuffer>
  txid: string
  timestamp?: Timestamp
  nonce: Uint8Array<ArrayBuffer>
  cert: Uint8Array<ArrayBuffer>
  signature: Uint8Array<ArrayBuffer>
}

export namespace Transaction {
  export enum Type {
    UNDEFINED = 'UNDEFINED',
    CHAINCODE_DEPLOY = 'CHAINCODE_DEPLOY',
    CHAINCODE_INVOKE = 'CHAINCODE_INVOKE',
    CHAINCODE_QUERY = 'CHAINCODE_QUERY',
    CHAINCODE_TERMINATE = 'CHAINCODE_TERMINATE'
  }

  enum __TypeValues {
    UNDEFINED = 0,
    CHAINCODE_DEPLOY = 1,
    CHAINCODE_INVOKE = 2,
    CHAINCODE_QUERY = 3,
    CHAINCODE_TERMINATE = 4
  }

  export namespace Type {
    export const codec = (): Codec<Type> => {
      return enumeration<Type>(__TypeValues)
    }
  }

  let _codec: Codec<Transaction>

  export const codec = (): Codec<Transaction> => {
    if (_codec == null) {
      _codec = message<Transaction>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.type != null && __TypeValues[obj.type] !== 0) {
          w.uint32(8)
          Transaction.Type.codec().encode(obj.type, w)
        }

        if ((obj.chaincodeID != null && obj.chaincodeID.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.chaincodeID)
        }

        if ((obj.payload != null && obj.payload.byteLength > 0)) {
          w.uint32(26)
          w.bytes(obj.payload)
        }

        if ((obj.metadata != null && obj.metadata.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.metadata)
        }

        if ((obj.txid != null && obj.txid !== '')) {
          w.uint32(42)
          w.string(obj.txid)
        }

        if (obj.timestamp != null) {
          w.uint32(50)
          Timestamp.codec().encode(obj.timestamp, w)
        }

        if ((obj.nonce != null && obj.nonce.byteLength > 0)) {
          w.uint32(74)
          w.bytes(obj.nonce)
        }

        if ((obj.cert != null && obj.cert.byteLength > 0)) {
          w.uint32(90)
          w.bytes(obj.cert)
        }

        if ((obj.signature != null && obj.signature.byteLength > 0)) {
          w.uint32(98)
          w.bytes(obj.signature)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          type: Type.UNDEFINED,
          chaincodeID: new Uint8Array(0),
          payload: new Uint8Array(0),
          metadata: new Uint8Array(0),
          txid: '',
          nonce: new Uint8Array(0),
          cert: new Uint8Array(0),
          signature: new Uint8Array(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.type = Transaction.Type.codec().decode(reader)
              break
            }
            case 2: {
              obj.chaincodeID = reader.bytes()
              break
            }
            case 3: {
              obj.payload = reader.bytes()
              break
            }
            case 4: {
              obj.metadata = reader.bytes()
              break
            }
            case 5: {
              obj.txid = reader.string()
              break
            }
            case 6: {
              obj.timestamp = Timestamp.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.timestamp
              })
              break
            }
            case 9: {
              obj.nonce = reader.bytes()
              break
            }
            case 11: {
              obj.cert = reader.bytes()
              break
            }
            case 12: {
              obj.signature = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.type`,
                value: Transaction.Type.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.chaincodeID`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.payload`,
                value: reader.bytes()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.metadata`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.txid`,
                value: reader.string()
              }
              break
            }
            case 6: {
              yield * Timestamp.codec().stream(reader, reader.uint32(), `${prefix}.timestamp`, {
                limits: opts.limits?.timestamp
              })

              break
            }
            case 9: {
              yield {
                field: `${prefix}.nonce`,
                value: reader.bytes()
              }
              break
            }
            case 11: {
              yield {
                field: `${prefix}.cert`,
                value: reader.bytes()
              }
              break
            }
            case 12: {
              yield {
                field: `${prefix}.signature`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface TransactionTypeFieldEvent {
    field: '$.type'
    value: Transaction.Type
  }

  export interface TransactionChaincodeIDFieldEvent {
    field: '$.chaincodeID'
    value: Uint8Array<ArrayBuffer>
  }

  export interface TransactionPayloadFieldEvent {
    field: '$.payload'
    value: Uint8Array<ArrayBuffer>
  }

  export interface TransactionMetadataFieldEvent {
    field: '$.metadata'
    value: Uint8Array<ArrayBuffer>
  }

  export interface TransactionTxidFieldEvent {
    field: '$.txid'
    value: string
  }

  export interface TransactionTimestampSecondsFieldEvent {
    field: '$.timestamp.seconds'
    value: number
  }

  export interface TransactionTimestampNanosFieldEvent {
    field: '$.timestamp.nanos'
    value: number
  }

  export interface TransactionNonceFieldEvent {
    field: '$.nonce'
    value: Uint8Array<ArrayBuffer>
  }

  export interface TransactionCertFieldEvent {
    field: '$.cert'
    value: Uint8Array<ArrayBuffer>
  }

  export interface TransactionSignatureFieldEvent {
    field: '$.signature'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Transaction>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Transaction.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Transaction>): Transaction {
    return decodeMessage(buf, Transaction.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Transaction>): Generator<TransactionTypeFieldEvent | TransactionChaincodeIDFieldEvent | TransactionPayloadFieldEvent | TransactionMetadataFieldEvent | TransactionTxidFieldEvent | TransactionTimestampSecondsFieldEvent | TransactionTimestampNanosFieldEvent | TransactionNonceFieldEvent | TransactionCertFieldEvent | TransactionSignatureFieldEvent> {
    return streamMessage(buf, Transaction.codec(), opts)
  }
}

export interface Response {
  status: Response.StatusCode
  msg: Uint8Array<ArrayBuffer>
}

export namespace Response {
  export enum StatusCode {
    UNDEFINED = 'UNDEFINED',
    SUCCESS = 'SUCCESS',
    FAILURE = 'FAILURE'
  }

  enum __StatusCodeValues {
    UNDEFINED = 0,
    SUCCESS = 200,
    FAILURE = 500
  }

  export namespace StatusCode {
    export const codec = (): Codec<StatusCode> => {
      return enumeration<StatusCode>(__StatusCodeValues)
    }
  }

  let _codec: Codec<Response>

  export const codec = (): Codec<Response> => {
    if (_codec == null) {
      _codec = message<Response>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.status != null && __StatusCodeValues[obj.status] !== 0) {
          w.uint32(8)
          Response.StatusCode.codec().encode(obj.status, w)
        }

        if ((obj.msg != null && obj.msg.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.msg)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          status: StatusCode.UNDEFINED,
          msg: new Uint8Array(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.status = Response.StatusCode.codec().decode(reader)
              break
            }
            case 2: {
              obj.msg = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.status`,
                value: Response.StatusCode.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.msg`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface ResponseStatusFieldEvent {
    field: '$.status'
    value: Response.StatusCode
  }

  export interface ResponseMsgFieldEvent {
    field: '$.msg'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Response>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Response.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Response {
    return decodeMessage(buf, Response.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Response>): Generator<ResponseStatusFieldEvent | ResponseMsgFieldEvent> {
    return streamMessage(buf, Response.codec(), opts)
  }
}

export interface Block {
  version: number
  timestamp?: Timestamp
  transactions: Transaction[]
  stateHash: Uint8Array<ArrayBuffer>
  previousBlockHash: Uint8Array<ArrayBuffer>
  consensusMetadata: Uint8Array<ArrayBuffer>
}

export namespace Block {
  let _codec: Codec<Block>

  export const codec = (): Codec<Block> => {
    if (_codec == null) {
      _codec = message<Block>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.version != null && obj.version !== 0)) {
          w.uint32(8)
          w.uint32(obj.version)
        }

        if (obj.timestamp != null) {
          w.uint32(18)
          Timestamp.codec().encode(obj.timestamp, w)
        }

        if (obj.transactions != null && obj.transactions.length > 0) {
          for (const value of obj.transactions) {
            w.uint32(26)
            Transaction.codec().encode(value, w)
          }
        }

        if ((obj.stateHash != null && obj.stateHash.byteLength > 0)) {
          w.uint32(34)
          w.bytes(obj.stateHash)
        }

        if ((obj.previousBlockHash != null && obj.previousBlockHash.byteLength > 0)) {
          w.uint32(42)
          w.bytes(obj.previousBlockHash)
        }

        if ((obj.consensusMetadata != null && obj.consensusMetadata.byteLength > 0)) {
          w.uint32(50)
          w.bytes(obj.consensusMetadata)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          version: 0,
          transactions: [],
          stateHash: new Uint8Array(0),
          previousBlockHash: new Uint8Array(0),
          consensusMetadata: new Uint8Array(0)
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.version = reader.uint32()
              break
            }
            case 2: {
              obj.timestamp = Timestamp.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.timestamp
              })
              break
            }
            case 3: {
              if (opts.limits?.transactions != null && obj.transactions.length === opts.limits.transactions) {
                throw new MaxLengthError('Decode error - repeated field "transactions" had too many elements')
              }

              obj.transactions.push(Transaction.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.transactions$
              }))
              break
            }
            case 4: {
              obj.stateHash = reader.bytes()
              break
            }
            case 5: {
              obj.previousBlockHash = reader.bytes()
              break
            }
            case 6: {
              obj.consensusMetadata = reader.bytes()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          transactions: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.version`,
                value: reader.uint32()
              }
              break
            }
            case 2: {
              yield * Timestamp.codec().stream(reader, reader.uint32(), `${prefix}.timestamp`, {
                limits: opts.limits?.timestamp
              })

              break
            }
            case 3: {
              if (opts.limits?.transactions != null && obj.transactions === opts.limits.transactions) {
                throw new MaxLengthError('Streaming decode error - repeated field "transactions" had too many elements')
              }

              for (const evt of Transaction.codec().stream(reader, reader.uint32(), `${prefix}.transactions[]`, {
                limits: opts.limits?.transactions$
              })) {
                yield {
                  ...evt,
                  index: obj.transactions
                }
              }

              obj.transactions++

              break
            }
            case 4: {
              yield {
                field: `${prefix}.stateHash`,
                value: reader.bytes()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.previousBlockHash`,
                value: reader.bytes()
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.consensusMetadata`,
                value: reader.bytes()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface BlockVersionFieldEvent {
    field: '$.version'
    value: number
  }

  export interface BlockTimestampSecondsFieldEvent {
    field: '$.timestamp.seconds'
    value: number
  }

  export interface BlockTimestampNanosFieldEvent {
    field: '$.timestamp.nanos'
    value: number
  }

  export interface BlockTransactionsTypeFieldEvent {
    field: '$.transactions[].type'
    value: Transaction.Type
    index: number
  }

  export interface BlockTransactionsChaincodeIDFieldEvent {
    field: '$.transactions[].chaincodeID'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface BlockTransactionsPayloadFieldEvent {
    field: '$.transactions[].payload'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface BlockTransactionsMetadataFieldEvent {
    field: '$.transactions[].metadata'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface BlockTransactionsTxidFieldEvent {
    field: '$.transactions[].txid'
    value: string
    index: number
  }

  export interface BlockTransactionsTimestampSecondsFieldEvent {
    field: '$.transactions[].timestamp.seconds'
    value: number
    index: number
  }

  export interface BlockTransactionsTimestampNanosFieldEvent {
    field: '$.transactions[].timestamp.nanos'
    value: number
    index: number
  }

  export interface BlockTransactionsNonceFieldEvent {
    field: '$.transactions[].nonce'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface BlockTransactionsCertFieldEvent {
    field: '$.transactions[].cert'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface BlockTransactionsSignatureFieldEvent {
    field: '$.transactions[].signature'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface BlockStateHashFieldEvent {
    field: '$.stateHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface BlockPreviousBlockHashFieldEvent {
    field: '$.previousBlockHash'
    value: Uint8Array<ArrayBuffer>
  }

  export interface BlockConsensusMetadataFieldEvent {
    field: '$.consensusMetadata'
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<Block>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Block.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Block>): Block {
    return decodeMessage(buf, Block.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Block>): Generator<BlockVersionFieldEvent | BlockTimestampSecondsFieldEvent | BlockTimestampNanosFieldEvent | BlockTransactionsTypeFieldEvent | BlockTransactionsChaincodeIDFieldEvent | BlockTransactionsPayloadFieldEvent | BlockTransactionsMetadataFieldEvent | BlockTransactionsTxidFieldEvent | BlockTransactionsTimestampSecondsFieldEvent | BlockTransactionsTimestampNanosFieldEvent | BlockTransactionsNonceFieldEvent | BlockTransactionsCertFieldEvent | BlockTransactionsSignatureFieldEvent | BlockStateHashFieldEvent | BlockPreviousBlockHashFieldEvent | BlockConsensusMetadataFieldEvent> {
    return streamMessage(buf, Block.codec(), opts)
  }
}

export interface SyncBlockRange {
  correlationId: number
  start: number
  end: number
}

export namespace SyncBlockRange {
  let _codec: Codec<SyncBlockRange>

  export const codec = (): Codec<SyncBlockRange> => {
    if (_codec == null) {
      _codec = message<SyncBlockRange>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.correlationId != null && obj.correlationId !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.correlationId)
        }

        if ((obj.start != null && obj.start !== 0)) {
          w.uint32(16)
          w.uint64Number(obj.start)
        }

        if ((obj.end != null && obj.end !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.end)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          correlationId: 0,
          start: 0,
          end: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.correlationId = reader.uint64Number()
              break
            }
            case 2: {
              obj.start = reader.uint64Number()
              break
            }
            case 3: {
              obj.end = reader.uint64Number()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.correlationId`,
                value: reader.uint64Number()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.start`,
                value: reader.uint64Number()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.end`,
                value: reader.uint64Number()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncBlockRangeCorrelationIdFieldEvent {
    field: '$.correlationId'
    value: number
  }

  export interface SyncBlockRangeStartFieldEvent {
    field: '$.start'
    value: number
  }

  export interface SyncBlockRangeEndFieldEvent {
    field: '$.end'
    value: number
  }

  export function encode (obj: Partial<SyncBlockRange>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncBlockRange.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncBlockRange>): SyncBlockRange {
    return decodeMessage(buf, SyncBlockRange.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncBlockRange>): Generator<SyncBlockRangeCorrelationIdFieldEvent | SyncBlockRangeStartFieldEvent | SyncBlockRangeEndFieldEvent> {
    return streamMessage(buf, SyncBlockRange.codec(), opts)
  }
}

export interface SyncBlocks {
  range?: SyncBlockRange
  blocks: Block[]
}

export namespace SyncBlocks {
  let _codec: Codec<SyncBlocks>

  export const codec = (): Codec<SyncBlocks> => {
    if (_codec == null) {
      _codec = message<SyncBlocks>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.range != null) {
          w.uint32(10)
          SyncBlockRange.codec().encode(obj.range, w)
        }

        if (obj.blocks != null && obj.blocks.length > 0) {
          for (const value of obj.blocks) {
            w.uint32(18)
            Block.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          blocks: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.range = SyncBlockRange.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.range
              })
              break
            }
            case 2: {
              if (opts.limits?.blocks != null && obj.blocks.length === opts.limits.blocks) {
                throw new MaxLengthError('Decode error - repeated field "blocks" had too many elements')
              }

              obj.blocks.push(Block.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.blocks$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          blocks: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * SyncBlockRange.codec().stream(reader, reader.uint32(), `${prefix}.range`, {
                limits: opts.limits?.range
              })

              break
            }
            case 2: {
              if (opts.limits?.blocks != null && obj.blocks === opts.limits.blocks) {
                throw new MaxLengthError('Streaming decode error - repeated field "blocks" had too many elements')
              }

              for (const evt of Block.codec().stream(reader, reader.uint32(), `${prefix}.blocks[]`, {
                limits: opts.limits?.blocks$
              })) {
                yield {
                  ...evt,
                  index: obj.blocks
                }
              }

              obj.blocks++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncBlocksRangeCorrelationIdFieldEvent {
    field: '$.range.correlationId'
    value: number
  }

  export interface SyncBlocksRangeStartFieldEvent {
    field: '$.range.start'
    value: number
  }

  export interface SyncBlocksRangeEndFieldEvent {
    field: '$.range.end'
    value: number
  }

  export interface SyncBlocksBlocksVersionFieldEvent {
    field: '$.blocks[].version'
    value: number
    index: number
  }

  export interface SyncBlocksBlocksTimestampSecondsFieldEvent {
    field: '$.blocks[].timestamp.seconds'
    value: number
    index: number
  }

  export interface SyncBlocksBlocksTimestampNanosFieldEvent {
    field: '$.blocks[].timestamp.nanos'
    value: number
    index: number
  }

  export interface SyncBlocksBlocksTransactionsTypeFieldEvent {
    field: '$.blocks[].transactions[].type'
    value: Transaction.Type
    index: number
  }

  export interface SyncBlocksBlocksTransactionsChaincodeIDFieldEvent {
    field: '$.blocks[].transactions[].chaincodeID'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksTransactionsPayloadFieldEvent {
    field: '$.blocks[].transactions[].payload'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksTransactionsMetadataFieldEvent {
    field: '$.blocks[].transactions[].metadata'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksTransactionsTxidFieldEvent {
    field: '$.blocks[].transactions[].txid'
    value: string
    index: number
  }

  export interface SyncBlocksBlocksTransactionsTimestampSecondsFieldEvent {
    field: '$.blocks[].transactions[].timestamp.seconds'
    value: number
    index: number
  }

  export interface SyncBlocksBlocksTransactionsTimestampNanosFieldEvent {
    field: '$.blocks[].transactions[].timestamp.nanos'
    value: number
    index: number
  }

  export interface SyncBlocksBlocksTransactionsNonceFieldEvent {
    field: '$.blocks[].transactions[].nonce'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksTransactionsCertFieldEvent {
    field: '$.blocks[].transactions[].cert'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksTransactionsSignatureFieldEvent {
    field: '$.blocks[].transactions[].signature'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksStateHashFieldEvent {
    field: '$.blocks[].stateHash'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksPreviousBlockHashFieldEvent {
    field: '$.blocks[].previousBlockHash'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface SyncBlocksBlocksConsensusMetadataFieldEvent {
    field: '$.blocks[].consensusMetadata'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export function encode (obj: Partial<SyncBlocks>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncBlocks.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncBlocks>): SyncBlocks {
    return decodeMessage(buf, SyncBlocks.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncBlocks>): Generator<SyncBlocksRangeCorrelationIdFieldEvent | SyncBlocksRangeStartFieldEvent | SyncBlocksRangeEndFieldEvent | SyncBlocksBlocksVersionFieldEvent | SyncBlocksBlocksTimestampSecondsFieldEvent | SyncBlocksBlocksTimestampNanosFieldEvent | SyncBlocksBlocksTransactionsTypeFieldEvent | SyncBlocksBlocksTransactionsChaincodeIDFieldEvent | SyncBlocksBlocksTransactionsPayloadFieldEvent | SyncBlocksBlocksTransactionsMetadataFieldEvent | SyncBlocksBlocksTransactionsTxidFieldEvent | SyncBlocksBlocksTransactionsTimestampSecondsFieldEvent | SyncBlocksBlocksTransactionsTimestampNanosFieldEvent | SyncBlocksBlocksTransactionsNonceFieldEvent | SyncBlocksBlocksTransactionsCertFieldEvent | SyncBlocksBlocksTransactionsSignatureFieldEvent | SyncBlocksBlocksStateHashFieldEvent | SyncBlocksBlocksPreviousBlockHashFieldEvent | SyncBlocksBlocksConsensusMetadataFieldEvent> {
    return streamMessage(buf, SyncBlocks.codec(), opts)
  }
}

export interface SyncStateSnapshotRequest {
  correlationId: number
}

export namespace SyncStateSnapshotRequest {
  let _codec: Codec<SyncStateSnapshotRequest>

  export const codec = (): Codec<SyncStateSnapshotRequest> => {
    if (_codec == null) {
      _codec = message<SyncStateSnapshotRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.correlationId != null && obj.correlationId !== 0)) {
          w.uint32(8)
          w.uint64Number(obj.correlationId)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          correlationId: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.correlationId = reader.uint64Number()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.correlationId`,
                value: reader.uint64Number()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncStateSnapshotRequestCorrelationIdFieldEvent {
    field: '$.correlationId'
    value: number
  }

  export function encode (obj: Partial<SyncStateSnapshotRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncStateSnapshotRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateSnapshotRequest>): SyncStateSnapshotRequest {
    return decodeMessage(buf, SyncStateSnapshotRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateSnapshotRequest>): Generator<SyncStateSnapshotRequestCorrelationIdFieldEvent> {
    return streamMessage(buf, SyncStateSnapshotRequest.codec(), opts)
  }
}

export interface SyncStateSnapshot {
  delta: Uint8Array<ArrayBuffer>
  sequence: number
  blockNumber: number
  request?: SyncStateSnapshotRequest
}

export namespace SyncStateSnapshot {
  let _codec: Codec<SyncStateSnapshot>

  export const codec = (): Codec<SyncStateSnapshot> => {
    if (_codec == null) {
      _codec = message<SyncStateSnapshot>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.delta != null && obj.delta.byteLength > 0)) {
          w.uint32(10)
          w.bytes(obj.delta)
        }

        if ((obj.sequence != null && obj.sequence !== 0)) {
          w.uint32(16)
          w.uint64Number(obj.sequence)
        }

        if ((obj.blockNumber != null && obj.blockNumber !== 0)) {
          w.uint32(24)
          w.uint64Number(obj.blockNumber)
        }

        if (obj.request != null) {
          w.uint32(34)
          SyncStateSnapshotRequest.codec().encode(obj.request, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          delta: new Uint8Array(0),
          sequence: 0,
          blockNumber: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.delta = reader.bytes()
              break
            }
            case 2: {
              obj.sequence = reader.uint64Number()
              break
            }
            case 3: {
              obj.blockNumber = reader.uint64Number()
              break
            }
            case 4: {
              obj.request = SyncStateSnapshotRequest.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.request
              })
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.delta`,
                value: reader.bytes()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.sequence`,
                value: reader.uint64Number()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.blockNumber`,
                value: reader.uint64Number()
              }
              break
            }
            case 4: {
              yield * SyncStateSnapshotRequest.codec().stream(reader, reader.uint32(), `${prefix}.request`, {
                limits: opts.limits?.request
              })

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncStateSnapshotDeltaFieldEvent {
    field: '$.delta'
    value: Uint8Array<ArrayBuffer>
  }

  export interface SyncStateSnapshotSequenceFieldEvent {
    field: '$.sequence'
    value: number
  }

  export interface SyncStateSnapshotBlockNumberFieldEvent {
    field: '$.blockNumber'
    value: number
  }

  export interface SyncStateSnapshotRequestCorrelationIdFieldEvent {
    field: '$.request.correlationId'
    value: number
  }

  export function encode (obj: Partial<SyncStateSnapshot>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncStateSnapshot.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateSnapshot>): SyncStateSnapshot {
    return decodeMessage(buf, SyncStateSnapshot.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateSnapshot>): Generator<SyncStateSnapshotDeltaFieldEvent | SyncStateSnapshotSequenceFieldEvent | SyncStateSnapshotBlockNumberFieldEvent | SyncStateSnapshotRequestCorrelationIdFieldEvent> {
    return streamMessage(buf, SyncStateSnapshot.codec(), opts)
  }
}

export interface SyncStateDeltasRequest {
  range?: SyncBlockRange
}

export namespace SyncStateDeltasRequest {
  let _codec: Codec<SyncStateDeltasRequest>

  export const codec = (): Codec<SyncStateDeltasRequest> => {
    if (_codec == null) {
      _codec = message<SyncStateDeltasRequest>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.range != null) {
          w.uint32(10)
          SyncBlockRange.codec().encode(obj.range, w)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {}

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.range = SyncBlockRange.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.range
              })
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * SyncBlockRange.codec().stream(reader, reader.uint32(), `${prefix}.range`, {
                limits: opts.limits?.range
              })

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncStateDeltasRequestRangeCorrelationIdFieldEvent {
    field: '$.range.correlationId'
    value: number
  }

  export interface SyncStateDeltasRequestRangeStartFieldEvent {
    field: '$.range.start'
    value: number
  }

  export interface SyncStateDeltasRequestRangeEndFieldEvent {
    field: '$.range.end'
    value: number
  }

  export function encode (obj: Partial<SyncStateDeltasRequest>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncStateDeltasRequest.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateDeltasRequest>): SyncStateDeltasRequest {
    return decodeMessage(buf, SyncStateDeltasRequest.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateDeltasRequest>): Generator<SyncStateDeltasRequestRangeCorrelationIdFieldEvent | SyncStateDeltasRequestRangeStartFieldEvent | SyncStateDeltasRequestRangeEndFieldEvent> {
    return streamMessage(buf, SyncStateDeltasRequest.codec(), opts)
  }
}

export interface SyncStateDeltas {
  range?: SyncBlockRange
  deltas: Uint8Array<ArrayBuffer>[]
}

export namespace SyncStateDeltas {
  let _codec: Codec<SyncStateDeltas>

  export const codec = (): Codec<SyncStateDeltas> => {
    if (_codec == null) {
      _codec = message<SyncStateDeltas>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.range != null) {
          w.uint32(10)
          SyncBlockRange.codec().encode(obj.range, w)
        }

        if (obj.deltas != null && obj.deltas.length > 0) {
          for (const value of obj.deltas) {
            w.uint32(18)
            w.bytes(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          deltas: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.range = SyncBlockRange.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.range
              })
              break
            }
            case 2: {
              if (opts.limits?.deltas != null && obj.deltas.length === opts.limits.deltas) {
                throw new MaxLengthError('Decode error - repeated field "deltas" had too many elements')
              }

              obj.deltas.push(reader.bytes())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          deltas: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield * SyncBlockRange.codec().stream(reader, reader.uint32(), `${prefix}.range`, {
                limits: opts.limits?.range
              })

              break
            }
            case 2: {
              if (opts.limits?.deltas != null && obj.deltas === opts.limits.deltas) {
                throw new MaxLengthError('Streaming decode error - repeated field "deltas" had too many elements')
              }

              yield {
                field: `${prefix}.deltas[]`,
                index: obj.deltas,
                value: reader.bytes()
              }

              obj.deltas++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface SyncStateDeltasRangeCorrelationIdFieldEvent {
    field: '$.range.correlationId'
    value: number
  }

  export interface SyncStateDeltasRangeStartFieldEvent {
    field: '$.range.start'
    value: number
  }

  export interface SyncStateDeltasRangeEndFieldEvent {
    field: '$.range.end'
    value: number
  }

  export interface SyncStateDeltasDeltasFieldEvent {
    field: '$.deltas[]'
    index: number
    value: Uint8Array<ArrayBuffer>
  }

  export function encode (obj: Partial<SyncStateDeltas>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, SyncStateDeltas.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateDeltas>): SyncStateDeltas {
    return decodeMessage(buf, SyncStateDeltas.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<SyncStateDeltas>): Generator<SyncStateDeltasRangeCorrelationIdFieldEvent | SyncStateDeltasRangeStartFieldEvent | SyncStateDeltasRangeEndFieldEvent | SyncStateDeltasDeltasFieldEvent> {
    return streamMessage(buf, SyncStateDeltas.codec(), opts)
  }
}

export interface StateDelta {
  entries: StateEntry[]
}

export namespace StateDelta {
  let _codec: Codec<StateDelta>

  export const codec = (): Codec<StateDelta> => {
    if (_codec == null) {
      _codec = message<StateDelta>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.entries != null && obj.entries.length > 0) {
          for (const value of obj.entries) {
            w.uint32(10)
            StateEntry.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          entries: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.entries != null && obj.entries.length === opts.limits.entries) {
                throw new MaxLengthError('Decode error - repeated field "entries" had too many elements')
              }

              obj.entries.push(StateEntry.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.entries$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          entries: 0
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              if (opts.limits?.entries != null && obj.entries === opts.limits.entries) {
                throw new MaxLengthError('Streaming decode error - repeated field "entries" had too many elements')
              }

              for (const evt of StateEntry.codec().stream(reader, reader.uint32(), `${prefix}.entries[]`, {
                limits: opts.limits?.entries$
              })) {
                yield {
                  ...evt,
                  index: obj.entries
                }
              }

              obj.entries++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface StateDeltaEntriesKeyFieldEvent {
    field: '$.entries[].key'
    value: string
    index: number
  }

  export interface StateDeltaEntriesValueFieldEvent {
    field: '$.entries[].value'
    value: Uint8Array<ArrayBuffer>
    index: number
  }

  export interface StateDeltaEntriesDeletedFieldEvent {
    field: '$.entries[].deleted'
    value: boolean
    index: number
  }

  export function encode (obj: Partial<StateDelta>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, StateDelta.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StateDelta>): StateDelta {
    return decodeMessage(buf, StateDelta.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StateDelta>): Generator<StateDeltaEntriesKeyFieldEvent | StateDeltaEntriesValueFieldEvent | StateDeltaEntriesDeletedFieldEvent> {
    return streamMessage(buf, StateDelta.codec(), opts)
  }
}

export interface StateEntry {
  key: string
  value: Uint8Array<ArrayBuffer>
  deleted: boolean
}

export namespace StateEntry {
  let _codec: Codec<StateEntry>

  export const codec = (): Codec<StateEntry> => {
    if (_codec == null) {
      _codec = message<StateEntry>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if ((obj.key != null && obj.key !== '')) {
          w.uint32(10)
          w.string(obj.key)
        }

        if ((obj.value != null && obj.value.byteLength > 0)) {
          w.uint32(18)
          w.bytes(obj.value)
        }

        if ((obj.deleted != null && obj.deleted !== false)) {
          w.uint32(24)
          w.bool(obj.deleted)
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          key: '',
          value: new Uint8Array(0),
          deleted: false
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.key = reader.string()
              break
            }
            case 2: {
              obj.value = reader.bytes()
              break
            }
            case 3: {
              obj.deleted = reader.bool()
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.key`,
                value: reader.string()
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.value`,
                value: reader.bytes()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.deleted`,
                value: reader.bool()
              }
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface StateEntryKeyFieldEvent {
    field: '$.key'
    value: string
  }

  export interface StateEntryValueFieldEvent {
    field: '$.value'
    value: Uint8Array<ArrayBuffer>
  }

  export interface StateEntryDeletedFieldEvent {
    field: '$.deleted'
    value: boolean
  }

  export function encode (obj: Partial<StateEntry>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, StateEntry.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StateEntry>): StateEntry {
    return decodeMessage(buf, StateEntry.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<StateEntry>): Generator<StateEntryKeyFieldEvent | StateEntryValueFieldEvent | StateEntryDeletedFieldEvent> {
    return streamMessage(buf, StateEntry.codec(), opts)
  }
}
