// The command handlers, one file per value type (t_string.cc, t_set.cc,
// t_hash.cc, t_mvreg.cc, t_generic.cc; t_expire.cc for TTLs) and for
// connection and server commands (t_connection.cc, t_server.cc). command.cc
// lists them in the table.
#pragma once

#include "replica/commands/command.h"

namespace geokv::replica {

// t_string.cc
void CmdGet(CommandContext&, const Args&);
void CmdSet(CommandContext&, const Args&);
void CmdGetSet(CommandContext&, const Args&);
void CmdMSet(CommandContext&, const Args&);
void CmdMGet(CommandContext&, const Args&);
void CmdStrLen(CommandContext&, const Args&);
void CmdIncr(CommandContext&, const Args&);
void CmdDecr(CommandContext&, const Args&);
void CmdIncrBy(CommandContext&, const Args&);
void CmdDecrBy(CommandContext&, const Args&);
void CmdMSetNx(CommandContext&, const Args&);
void CmdAppend(CommandContext&, const Args&);
void CmdSetRange(CommandContext&, const Args&);
void CmdGetRange(CommandContext&, const Args&);
void CmdLcs(CommandContext&, const Args&);
void CmdIncrByFloat(CommandContext&, const Args&);
// t_bitops.cc
void CmdSetBit(CommandContext&, const Args&);
void CmdGetBit(CommandContext&, const Args&);
void CmdBitCount(CommandContext&, const Args&);
void CmdBitPos(CommandContext&, const Args&);
void CmdBitOp(CommandContext&, const Args&);
// t_string.cc: values with a TTL
void CmdSetEx(CommandContext&, const Args&);
void CmdPSetEx(CommandContext&, const Args&);
void CmdSetNx(CommandContext&, const Args&);
void CmdGetEx(CommandContext&, const Args&);
void CmdGetDel(CommandContext&, const Args&);
// t_expire.cc
void CmdExpire(CommandContext&, const Args&);
void CmdPExpire(CommandContext&, const Args&);
void CmdExpireAt(CommandContext&, const Args&);
void CmdPExpireAt(CommandContext&, const Args&);
void CmdTtl(CommandContext&, const Args&);
void CmdPTtl(CommandContext&, const Args&);
void CmdExpireTime(CommandContext&, const Args&);
void CmdPExpireTime(CommandContext&, const Args&);
void CmdPersist(CommandContext&, const Args&);
// t_set.cc
void CmdSAdd(CommandContext&, const Args&);
void CmdSRem(CommandContext&, const Args&);
void CmdSMembers(CommandContext&, const Args&);
void CmdSIsMember(CommandContext&, const Args&);
void CmdSMIsMember(CommandContext&, const Args&);
void CmdSCard(CommandContext&, const Args&);
void CmdSInter(CommandContext&, const Args&);
void CmdSInterCard(CommandContext&, const Args&);
void CmdSInterStore(CommandContext&, const Args&);
void CmdSUnion(CommandContext&, const Args&);
void CmdSUnionStore(CommandContext&, const Args&);
void CmdSDiff(CommandContext&, const Args&);
void CmdSDiffStore(CommandContext&, const Args&);
void CmdSMove(CommandContext&, const Args&);
void CmdSPop(CommandContext&, const Args&);
void CmdSRandMember(CommandContext&, const Args&);
void CmdSScan(CommandContext&, const Args&);
// SINTERCARD's keys (the key finder of its table row).
std::optional<std::vector<int>> SInterCardKeys(const Args&);
// t_hash.cc
void CmdHSet(CommandContext&, const Args&);
void CmdHGet(CommandContext&, const Args&);
void CmdHMGet(CommandContext&, const Args&);
void CmdHDel(CommandContext&, const Args&);
void CmdHGetAll(CommandContext&, const Args&);
void CmdHKeys(CommandContext&, const Args&);
void CmdHVals(CommandContext&, const Args&);
void CmdHLen(CommandContext&, const Args&);
void CmdHExists(CommandContext&, const Args&);
void CmdHIncrBy(CommandContext&, const Args&);
void CmdHSetNx(CommandContext&, const Args&);
void CmdHStrLen(CommandContext&, const Args&);
void CmdHRandField(CommandContext&, const Args&);
void CmdHMSet(CommandContext&, const Args&);
void CmdHScan(CommandContext&, const Args&);
void CmdHIncrByFloat(CommandContext&, const Args&);
// t_mvreg.cc
void CmdMvSet(CommandContext&, const Args&);
void CmdMvGet(CommandContext&, const Args&);
// t_generic.cc
void CmdDel(CommandContext&, const Args&);
void CmdExists(CommandContext&, const Args&);
void CmdType(CommandContext&, const Args&);
void CmdDbSize(CommandContext&, const Args&);
void CmdScan(CommandContext&, const Args&);
void CmdFlush(CommandContext&, const Args&);
void CmdTouch(CommandContext&, const Args&);
void CmdKeys(CommandContext&, const Args&);
void CmdRandomKey(CommandContext&, const Args&);
void CmdRename(CommandContext&, const Args&);
void CmdRenameNx(CommandContext&, const Args&);
void CmdCopy(CommandContext&, const Args&);
void CmdObject(CommandContext&, const Args&);
// The key of OBJECT: the argument after the subcommand, when there is one.
std::optional<std::vector<int>> ObjectKeys(const Args&);
void CmdTime(CommandContext&, const Args&);
void CmdGeokvWhere(CommandContext&, const Args&);
void CmdGeokvDigest(CommandContext&, const Args&);
// t_connection.cc
void CmdPing(ConnectionContext&, const Args&);
void CmdEcho(ConnectionContext&, const Args&);
void CmdQuit(ConnectionContext&, const Args&);
void CmdSelect(ConnectionContext&, const Args&);
void CmdAuth(ConnectionContext&, const Args&);
void CmdHello(ConnectionContext&, const Args&);
void CmdClient(ConnectionContext&, const Args&);
void CmdGeokvForwarder(ConnectionContext&, const Args&);
void CmdReset(ConnectionContext&, const Args&);
void CmdGeokvConsistency(ConnectionContext&, const Args&);
// t_transaction.cc
void CmdMulti(ConnectionContext&, const Args&);
void CmdExec(ConnectionContext&, const Args&);
void CmdDiscard(ConnectionContext&, const Args&);
void CmdWatch(ConnectionContext&, const Args&);
void CmdUnwatch(ConnectionContext&, const Args&);
// t_server.cc
void CmdAcl(ConnectionContext&, const Args&);  // t_acl.cc
void CmdCommand(ConnectionContext&, const Args&);
void CmdConfig(ConnectionContext&, const Args&);
void CmdInfo(ConnectionContext&, const Args&);
void CmdSlowLog(ConnectionContext&, const Args&);
void CmdLatency(ConnectionContext&, const Args&);
void CmdWait(ConnectionContext&, const Args&);
void CmdGeokvWaitOwn(ConnectionContext&, const Args&);
void CmdGeokvAtoms(ConnectionContext&, const Args&);
void CmdGeokvRepair(ConnectionContext&, const Args&);
void CmdGeokvHint(ConnectionContext&, const Args&);
void CmdGeokvAae(ConnectionContext&, const Args&);
void CmdGeokvRebuild(ConnectionContext&, const Args&);
void CmdGeokvTopology(ConnectionContext&, const Args&);
void CmdGeokvMembers(ConnectionContext&, const Args&);
void CmdGeokvMoves(ConnectionContext&, const Args&);

// Hex digest of a partition replica's state (atoms and causal context).
std::string PartitionDigest(const crdt::StateView& state);

}  // namespace geokv::replica
